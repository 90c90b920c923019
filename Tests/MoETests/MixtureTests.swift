import Foundation
import MoE
import NN
import TensorCore
import Testing
import _TestSupport

/// A user-defined expert, as a researcher would write one outside the library.
private final class TinyExpert: Module, Expert {
  let hiddenLayer: Linear
  let output: Linear
  init(inputs: Int, hidden: Int, classes: Int, using generator: inout RandomGenerator) throws {
    hiddenLayer = try Linear(inputs, hidden, using: &generator)
    output = try Linear(hidden, classes, using: &generator)
  }
  init(hiddenLayer: Linear, output: Linear) {
    self.hiddenLayer = hiddenLayer
    self.output = output
  }
  override func makeCopy() throws -> Module {
    TinyExpert(hiddenLayer: try hiddenLayer.copy(), output: try output.copy())
  }
  var classCount: Int { output.outputCount }
  var hiddenCount: Int { hiddenLayer.outputCount }
  func callAsFunction(_ input: Tensor) throws -> ExpertOutput {
    let flat = try input.reshaped([input.shape[0], input.count / input.shape[0]])
    let hidden = try hiddenLayer(flat)
    return ExpertOutput(logits: try output(hidden.relu()), hidden: hidden)
  }
}

private func smallMixture(attentive: Bool, experts: Int = 3, seed: UInt64 = 1) throws
  -> MixtureOfExperts
{
  var generator = RandomGenerator(seed: seed)
  let members: [any Expert] = try (0..<experts).map { _ in
    try TinyExpert(inputs: 6, hidden: 4, classes: 3, using: &generator)
  }
  let trunk = Sequential(Flatten(), try Linear(6, 4, using: &generator))
  let gate: any Gate =
    attentive
    ? try AttentiveGate(trunk: trunk, hiddenCount: 4, expertCount: experts, using: &generator)
    : try SoftmaxGate(trunk: trunk, hiddenCount: 4, expertCount: experts, using: &generator)
  return try MixtureOfExperts(experts: members, gate: gate)
}

@Test func attentiveGateGradientsMatchFiniteDifferences() throws {
  var generator = RandomGenerator(seed: 2)
  let trunk = Sequential(try Linear(5, 4, using: &generator))
  let gate = try AttentiveGate(trunk: trunk, hiddenCount: 4, expertCount: 3, using: &generator)
  let input = try randomTensor([6, 5], seed: 3)
  let hidden = try (0..<3).map { try randomTensor([6, 4], seed: 10 + UInt64($0)) }
  let result = try gradientCheck([input, gate.query.weight, gate.key.weight] + hidden) {
    inputs in try gate.probabilities(inputs[0], expertHidden: Array(inputs[3...]))
  }
  #expect(result.worstError < 1e-2, "\(result)")
}

@Test func attentiveGateComputesSoftmaxOfScaledQueryKeyProducts() throws {
  var generator = RandomGenerator(seed: 4)
  let gate = try AttentiveGate(
    trunk: Sequential(try Linear(3, 2, using: &generator)), hiddenCount: 2, expertCount: 2,
    using: &generator)
  let input = try randomTensor([1, 3], seed: 5)
  let hidden = [try randomTensor([1, 2], seed: 6), try randomTensor([1, 2], seed: 7)]
  let query = try gate.query(gate.trunk(input)).values
  let scores = try hidden.map { h -> Float in
    let key = try gate.key(h).values
    return (query[0] * key[0] + query[1] * key[1]) / Float(2).squareRoot()
  }
  let largest = scores.max()!
  let exponentials = scores.map { Foundation.exp($0 - largest) }
  let expected = exponentials.map { $0 / exponentials.reduce(0, +) }
  #expect(allClose(try gate.probabilities(input, expertHidden: hidden).values, expected))
}

@Test func mixtureAndCompetitiveLossGradientsMatchFiniteDifferences() throws {
  for attentive in [false, true] {
    let model = try smallMixture(attentive: attentive)
    let input = try randomTensor([5, 6], seed: 8)
    let targets = [0, 2, 1, 1, 0]
    for kind in MixtureLoss.allCases {
      let result = try gradientCheck(model.parameters().map(\.tensor)) { _ in
        try model.loss(model(input), targets: targets, kind: kind)
      }
      #expect(result.worstError < 1e-2, "attentive \(attentive) \(kind): \(result)")
    }
  }
}

@Test func mixtureProbabilitiesAreTheGateWeightedExpertProbabilities() throws {
  let model = try smallMixture(attentive: false)
  let output = try model(randomTensor([4, 6], seed: 9))
  let gate = output.gate.values
  let experts = output.expertProbabilities.values
  var expected = [Float](repeating: 0, count: 12)
  for b in 0..<4 {
    for e in 0..<3 {
      for k in 0..<3 { expected[b * 3 + k] += gate[b * 3 + e] * experts[(b * 3 + e) * 3 + k] }
    }
  }
  #expect(allClose(output.probabilities.values, expected))
  #expect(allClose(try output.probabilities.sum(axis: 1).values, [1, 1, 1, 1]))
}

@Test func competitiveLossMatchesItsDefinition() throws {
  let model = try smallMixture(attentive: false)
  let input = try randomTensor([3, 6], seed: 10)
  let targets = [1, 0, 2]
  let output = try model(input)
  var total = 0.0
  for b in 0..<3 {
    var likelihood = 0.0
    for e in 0..<3 {
      let logProbabilities = try output.expertOutputs[e].logits.logSoftmax(axis: 1).values
      let crossEntropy = -Double(logProbabilities[b * 3 + targets[b]])
      likelihood += Double(output.gate.values[b * 3 + e]) * Foundation.exp(-0.5 * crossEntropy)
    }
    total -= Foundation.log(likelihood + 1e-15)
  }
  let value = try model.loss(output, targets: targets, kind: .competitive).item()
  #expect(abs(Double(value) - total / 3) < 1e-5)
}

@Test func userExpertsAndGateRowsHaveStableCheckpointKeys() throws {
  let model = try smallMixture(attentive: false)
  let keys = model.parameters().map(\.key)
  #expect(keys.contains("experts.0.hiddenLayer.weight"))
  #expect(keys.contains("experts.2.output.bias"))
  #expect(keys.contains("gate.rows.2.weight"))
  #expect(keys.contains("gate.trunk.layers.1.weight"))
}

@Test func addingAnExpertGrowsBothGatesAndKeepsOldRoutingWeights() throws {
  for attentive in [false, true] {
    let model = try smallMixture(attentive: attentive, experts: 2)
    var generator = RandomGenerator(seed: 11)
    let before = model.parameters().count
    let oldRow = (model.gate as? SoftmaxGate)?.rows[0].weight.values
    try model.addExpert(
      TinyExpert(inputs: 6, hidden: 4, classes: 3, using: &generator), using: &generator)
    #expect(model.experts.count == 3)
    #expect(model.gate.expertCount == 3)
    #expect(try model(randomTensor([2, 6], seed: 12)).gate.shape == [2, 3])
    #expect(model.parameters().count == before + 4 + (attentive ? 0 : 2))
    if let softmax = model.gate as? SoftmaxGate { #expect(softmax.rows[0].weight.values == oldRow) }
    #expect(throws: ModuleError.self) {
      try model.addExpert(
        TinyExpert(inputs: 6, hidden: 4, classes: 5, using: &generator), using: &generator)
    }
    #expect(model.experts.count == 3)
  }
}

@Test func aCopyOfATrainedMixtureTrainsIndependently() throws {
  let model = try smallMixture(attentive: true)
  let optimizer = Adam(learningRate: 0.01)
  func train(_ mixture: MixtureOfExperts, _ optimizer: Adam, seed: UInt64) throws {
    for step in 0..<3 {
      _ = try mixture.trainStep(
        input: randomTensor([8, 6], seed: seed + UInt64(step)),
        targets: [0, 1, 2, 0, 1, 2, 0, 1], objective: MixtureObjective(), optimizer: optimizer)
    }
  }
  try train(model, optimizer, seed: 30)
  try model.freeze(expert: 2)
  let copy = try model.copy()
  #expect(copy.state().map(\.key) == model.state().map(\.key))
  #expect(copy.state().map(\.tensor.values) == model.state().map(\.tensor.values))
  #expect(copy.isFrozen(expert: 2) && !copy.isFrozen(expert: 0))
  #expect(copy.lifecycleLog == model.lifecycleLog)
  // The copy trains on other batches; the original does not move.
  let original = model.state().map(\.tensor.values)
  try train(copy, Adam(learningRate: 0.01), seed: 40)
  #expect(model.state().map(\.tensor.values) == original)
  #expect(
    copy.experts[0].parameters().map(\.tensor.values)
      != model.experts[0].parameters().map(\.tensor.values))
  #expect(
    copy.experts[2].parameters().map(\.tensor.values)
      == model.experts[2].parameters().map(\.tensor.values))
  // The same training (optimizer state included) on the original and on a fresh copy
  // gives the same values.
  let twin = try model.copy()
  let twinOptimizer = Adam(learningRate: 0.01)
  twinOptimizer.state = optimizer.state
  try train(model, optimizer, seed: 50)
  try train(twin, twinOptimizer, seed: 50)
  #expect(twin.state().map(\.tensor.values) == model.state().map(\.tensor.values))
}

@Test func frozenExpertsStayBitIdenticalWhileTheRestTrains() throws {
  let model = try smallMixture(attentive: true)
  model.experts[1].freeze()
  let frozenBefore = model.experts[1].parameters().map(\.tensor.values)
  let trainedBefore = model.experts[0].parameters().map(\.tensor.values)
  let optimizer = Adam(learningRate: 0.01)
  for step in 0..<3 {
    _ = try model.trainStep(
      input: randomTensor([8, 6], seed: 20 + UInt64(step)), targets: [0, 1, 2, 0, 1, 2, 0, 1],
      objective: MixtureObjective(), optimizer: optimizer)
  }
  #expect(model.experts[1].parameters().map(\.tensor.values) == frozenBefore)
  #expect(model.experts[0].parameters().map(\.tensor.values) != trainedBefore)
  #expect(!(optimizer.state.slots["m"]?.keys.contains { $0.hasPrefix("experts.1.") } ?? true))
}

@Test func frozenGateRowsStayFixed() throws {
  let model = try smallMixture(attentive: false)
  let gate = try #require(model.gate as? SoftmaxGate)
  gate.freeze(rows: [0])
  let before = gate.rows[0].weight.values
  _ = try model.trainStep(
    input: randomTensor([4, 6], seed: 30), targets: [0, 1, 2, 0],
    objective: MixtureObjective(), optimizer: Adam(learningRate: 0.1))
  #expect(gate.rows[0].weight.values == before)
  #expect(gate.rows[1].weight.grad != nil)
}

@Test func trainingWithRegularizersLowersTheLossOnSeparableData() throws {
  let model = try smallMixture(attentive: true, seed: 40)
  var generator = RandomGenerator(seed: 41)
  var values: [Float] = []
  var targets: [Int] = []
  for index in 0..<60 {
    let label = index % 3
    for feature in 0..<6 {
      values.append((feature / 2 == label ? 2 : 0) + 0.3 * generator.nextNormal())
    }
    targets.append(label)
  }
  let input = try Tensor(shape: [60, 6], values: values)
  let objective = MixtureObjective(
    sampleSimilarity: SampleSimilarityRegularizer(betaSame: 1e-3, betaDifferent: 1e-3),
    importance: ImportanceRegularizer(weight: 0.1))
  let optimizer = Adam(learningRate: 0.02)
  let first = try model.trainStep(
    input: input, targets: targets, objective: objective, optimizer: optimizer)
  var last = first
  for _ in 0..<80 {
    last = try model.trainStep(
      input: input, targets: targets, objective: objective, optimizer: optimizer)
  }
  #expect(first.importance > 0 && first.sampleSimilarity != 0)
  #expect(last.data < 0.1 && last.data < first.data / 5, "\(first) → \(last)")
  var statistics = RoutingStatistics(experts: 3, classes: 3)
  try model.accumulate(into: &statistics, input: input, targets: targets)
  #expect(statistics.samples == 60)
  #expect(statistics.error < 0.05)
}

@Test func distilledGateStartsFromTheAttentiveTrunk() throws {
  let model = try smallMixture(attentive: true)
  let attentive = try #require(model.gate as? AttentiveGate)
  var generator = RandomGenerator(seed: 50)
  let distilled = try model.distilledGate(from: attentive, using: &generator)
  #expect(
    distilled.trunk.parameters().map(\.tensor.values)
      == attentive.trunk.parameters().map(\.tensor.values))
  #expect(
    zip(distilled.trunk.parameters(), attentive.trunk.parameters()).allSatisfy {
      $0.tensor.storage !== $1.tensor.storage
    })
  for expert in model.experts { expert.freeze() }
  try model.replaceGate(with: distilled)
  #expect(model.trainableParameters().allSatisfy { $0.key.hasPrefix("gate.") })
  #expect(try model(randomTensor([2, 6], seed: 51)).gate.shape == [2, 3])
}

@Test func paperArchitecturesHaveThePaperShapes() throws {
  var generator = RandomGenerator(seed: 60)
  let counts: [PaperArchitecture: (expert: Int, classes: Int)] = [
    // conv 9+1, 169·5+5, 5·32+32, 32·10+10
    .mnist: (10 + 850 + 192 + 330, 10),
    // conv 9+1, 169·64+64, 64·32+32, 32·10+10
    .fashionMNIST: (10 + 10880 + 2080 + 330, 10),
    // convs 448, 4608 + BN 64, 18496, 73728 + BN 256; 512·1024+1024, 1024·256+256, 256·100+100
    .cifar100: (448 + 4672 + 18496 + 73984 + 525312 + 262400 + 25700, 100),
  ]
  for architecture in PaperArchitecture.allCases {
    let expected = counts[architecture]!
    let expert = try architecture.makeExpert(classCount: expected.classes, using: &generator)
    #expect(expert.parameterCount == expected.expert, "\(architecture)")
    let input = try Tensor.zeros([2] + architecture.inputShape)
    let output = try expert(input)
    #expect(output.logits.shape == [2, expected.classes])
    #expect(output.hidden.shape == [2, architecture.hiddenCount])
    let trunk = try architecture.makeGateTrunk(using: &generator)
    #expect(try trunk(input).shape == [2, architecture.hiddenCount])
  }
}

@Test func convolutionalExpertsHaveTheirShapesAndGradients() throws {
  var generator = RandomGenerator(seed: 61)
  let expert = try FeatureExpert.convolutional(
    inputShape: [1, 28, 28], channels: 16, hiddenWidths: [64, 32], classCount: 10, using: &generator
  )
  // conv 16·9+16, BatchNorm 2·16, 16·169·64+64, 64·32+32, 32·10+10
  #expect(expert.parameterCount == 160 + 32 + 173_120 + 2080 + 330)
  let output = try expert(try randomTensor([2, 1, 28, 28], seed: 62))
  #expect(output.logits.shape == [2, 10] && output.hidden.shape == [2, 32])
  #expect(expert.hiddenCount == 32)
  #expect(throws: ModuleError.self) {
    try FeatureExpert.convolutional(
      inputShape: [28, 28], channels: 4, hiddenWidths: [8], classCount: 10, using: &generator)
  }
  // The whole expert, BatchNorm on batch statistics, against central differences.
  let small = try FeatureExpert.convolutional(
    inputShape: [2, 6, 6], channels: 3, hiddenWidths: [5, 4], classCount: 3, using: &generator)
  let weight = try #require(small.features.layers.first as? Conv2D).weight
  let result = try gradientCheck([try randomTensor([4, 2, 6, 6], seed: 63), weight]) {
    inputs in try small(inputs[0]).logits
  }
  #expect(result.worstError < 2e-2, "\(result)")
}

@Test func lifecycleOperationsAreLoggedWithTheirTask() throws {
  let model = try smallMixture(attentive: false, experts: 2)
  var generator = RandomGenerator(seed: 70)
  model.currentTask = 1
  try model.freeze(expert: 0)
  let index = try model.addExpert(
    TinyExpert(inputs: 6, hidden: 4, classes: 3, using: &generator), using: &generator)
  try model.freezeGate(rows: [0])
  model.currentTask = 2
  try model.unfreeze(expert: 0)
  #expect(index == 2)
  #expect(
    model.lifecycleLog == [
      LifecycleEvent(task: 1, expert: 0, kind: .frozen),
      LifecycleEvent(task: 1, expert: 2, kind: .spawned),
      LifecycleEvent(task: 1, expert: 0, kind: .gateRowFrozen),
      LifecycleEvent(task: 2, expert: 0, kind: .unfrozen),
    ])
  #expect(throws: ModuleError.self) { try model.freeze(expert: 7) }
  let attentive = try smallMixture(attentive: true)
  #expect(throws: ModuleError.self) { try attentive.freezeGate(rows: [0]) }
}

@Test func allowedClassesMaskTheOutputHead() throws {
  let model = try smallMixture(attentive: true)
  let output = try model(randomTensor([4, 6], seed: 71), allowedClasses: [0, 2])
  let probabilities = output.probabilities.values
  for sample in 0..<4 {
    #expect(probabilities[sample * 3 + 1] == 0)
    #expect(abs(probabilities[sample * 3] + probabilities[sample * 3 + 2] - 1) < 1e-5)
  }
  #expect(throws: ModuleError.self) {
    try model(randomTensor([1, 6], seed: 72), allowedClasses: [3])
  }
}
