import MoE
import NN
import TensorCore
import Testing

/// Samples of class `label`: x = center + noise along one axis of its own, in 6 dimensions.
private func samples(_ label: Int, count: Int, generator: inout RandomGenerator) -> [Float] {
  (0..<count).flatMap { _ -> [Float] in
    var x = [Float](repeating: 0, count: 6)
    x[label] = 3
    x[label + 3] = Float(generator.next() % 1000) / 250 - 2
    return x
  }
}

/// A gate whose probabilities are fixed: the learned half of a hybrid in these tests.
private final class FixedGate: Module, Gate {
  var weights: [Float]
  init(_ weights: [Float]) { self.weights = weights }
  var expertCount: Int { weights.count }
  var needsExpertHidden: Bool { false }
  func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    try Tensor(
      shape: [input.shape[0], weights.count],
      values: (0..<input.shape[0]).flatMap { _ in weights })
  }
  func addExpert(using generator: inout RandomGenerator) throws { weights.append(0) }
}

/// A gate over two experts, fitted on classes 0 and 2 in turn, and a batch of two samples
/// of class 0 then two of class 2.
private func fittedGate(
  _ settings: EvidenceSettings, calibration: EvidenceCalibration = .raw,
  learned: (any Gate)? = nil, temperature: Double = 1
) throws -> (EvidenceGate, Tensor) {
  var generator = RandomGenerator(seed: 4)
  let gate = try EvidenceGate(
    inputCount: 6, settings: settings, calibration: calibration, expertCount: 2,
    learned: learned, temperature: temperature)
  for (expert, label) in [(0, 0), (1, 2)] {
    try gate.fit(
      expert: expert,
      samples: try Tensor(
        shape: [20, 6], values: samples(label, count: 20, generator: &generator)),
      labels: Array(repeating: label, count: 20), classes: [label])
  }
  gate.train(false)
  let batch = try Tensor(
    shape: [4, 6],
    values: samples(0, count: 2, generator: &generator)
      + samples(2, count: 2, generator: &generator))
  return (gate, batch)
}

@Test func anEvidenceGateTrainsUnfittedExpertsAloneThenRoutesBySubspace() throws {
  var generator = RandomGenerator(seed: 4)
  let gate = try EvidenceGate(
    inputCount: 6, settings: EvidenceSettings(kind: .subspace, rank: 1), expertCount: 2)
  let batch = try Tensor(
    shape: [4, 6],
    values: samples(0, count: 2, generator: &generator)
      + samples(2, count: 2, generator: &generator))
  // Nothing fitted: both experts share every sample.
  #expect(
    try gate.probabilities(batch, expertHidden: []).values == [Float](repeating: 0.5, count: 8))

  try gate.fit(
    expert: 0,
    samples: try Tensor(shape: [20, 6], values: samples(0, count: 20, generator: &generator)),
    labels: Array(repeating: 0, count: 20), classes: [0])
  // Expert 1, still unfitted, takes the whole weight: it trains alone.
  #expect(try gate.probabilities(batch, expertHidden: []).values == [0, 1, 0, 1, 0, 1, 0, 1])

  try gate.fit(
    expert: 1,
    samples: try Tensor(shape: [20, 6], values: samples(2, count: 20, generator: &generator)),
    labels: Array(repeating: 2, count: 20), classes: [2])
  #expect(try gate.probabilities(batch, expertHidden: []).values == [1, 0, 1, 0, 0, 1, 0, 1])
  // Restricted to expert 1 (task-IL of its task), every sample goes there.
  #expect(
    try gate.probabilities(batch, expertHidden: [], among: [1]).values
      == [0, 1, 0, 1, 0, 1, 0, 1])
  #expect(gate.parameters().isEmpty && gate.state().count == 12)

  // A gate made room for the same state loads it and routes the same.
  let copy = try EvidenceGate(
    inputCount: 6, settings: EvidenceSettings(kind: .subspace, rank: 1), expertCount: 2)
  let state = Dictionary(uniqueKeysWithValues: gate.state().map { ($0.key, $0.tensor) })
  try copy.makeRoom(forState: state)
  try copy.loadState(state)
  #expect(
    try copy.probabilities(batch, expertHidden: []).values
      == gate.probabilities(batch, expertHidden: []).values)
  // So does a copy, with storage of its own.
  let copied = try gate.copy()
  #expect(
    try copied.probabilities(batch, expertHidden: []).values
      == gate.probabilities(batch, expertHidden: []).values)
  #expect(copied.state().map(\.key) == gate.state().map(\.key))
  #expect(copied.experts[1].fitted!.means.storage !== gate.experts[1].fitted!.means.storage)
  #expect(throws: ModuleError.self) {
    try gate.fit(expert: 0, samples: try Tensor.zeros([3, 6]), labels: [0, 0], classes: [0])
  }
  #expect(throws: ModuleError.self) {
    try gate.fit(expert: 0, samples: try Tensor.zeros([2, 6]), labels: [0, 1], classes: [0])
  }
  #expect(throws: ModuleError.self) {
    try gate.probabilities(batch, expertHidden: [], among: [2])
  }
}

@Test(arguments: EvidenceGate.kinds, EvidenceCalibration.allCases)
func everyKindAndCalibrationRoutesSeparatedClassesToTheirExperts(
  kind: EvidenceKind, calibration: EvidenceCalibration
) throws {
  let (gate, batch) = try fittedGate(
    EvidenceSettings(kind: kind, shrinkage: 0.5, rank: 1), calibration: calibration)
  #expect(try gate.probabilities(batch, expertHidden: []).values == [1, 0, 1, 0, 0, 1, 0, 1])
}

@Test func theHybridFollowsItsLearnedGateWhileTrainingAndWeighsItByTemperatureAfter() throws {
  // The learned gate sends everything to expert 1; the evidence says 0 for the first two.
  let learned = FixedGate([0.01, 0.99])
  let settings = EvidenceSettings(kind: .subspace, rank: 1)
  let (sharp, batch) = try fittedGate(settings, learned: learned, temperature: 1)
  // A class-0 sample's residual off class 2's subspace is ≥ 18, far above log 99 = 4.6.
  #expect(try sharp.probabilities(batch, expertHidden: []).values == [1, 0, 1, 0, 0, 1, 0, 1])
  let (flat, _) = try fittedGate(settings, learned: learned, temperature: 100)
  #expect(try flat.probabilities(batch, expertHidden: []).values == [0, 1, 0, 1, 0, 1, 0, 1])
  flat.train(true)
  #expect(
    try flat.probabilities(batch, expertHidden: []).values
      == [Float]([0.01, 0.99, 0.01, 0.99, 0.01, 0.99, 0.01, 0.99]))
  // Restricted while training: renormalised over the candidates.
  #expect(
    try flat.probabilities(batch, expertHidden: [], among: [0]).values
      == [1, 0, 1, 0, 1, 0, 1, 0])
  var generator = RandomGenerator(seed: 0)
  try flat.addExpert(using: &generator)
  #expect(flat.expertCount == 3 && learned.expertCount == 3 && !flat.isFitted(expert: 2))
}

@Test func anEvidenceGateRefusesWhatItCannotFit() throws {
  #expect(throws: ModuleError.self) {
    try EvidenceGate(inputCount: 6, settings: EvidenceSettings(kind: .energy), expertCount: 2)
  }
  #expect(throws: ModuleError.self) {
    try EvidenceGate(
      inputCount: 6, settings: EvidenceSettings(kind: .subspace, rank: 6), expertCount: 2)
  }
  #expect(throws: ModuleError.self) {
    try EvidenceGate(
      inputCount: 6, settings: EvidenceSettings(kind: .subspace, rank: 1), expertCount: 2,
      learned: FixedGate([1]))
  }
}

@Test func damagedEvidenceStateIsAnErrorNotACrash() throws {
  let (gate, batch) = try fittedGate(EvidenceSettings(kind: .subspace, rank: 1))
  var state = Dictionary(uniqueKeysWithValues: gate.state().map { ($0.key, $0.tensor) })
  for (key, damaged) in [
    ("experts.0.fitted.classes", try Tensor(shape: [1], values: [.nan])),
    ("experts.0.fitted.classes", try Tensor(shape: [1], values: [1e30])),
    ("experts.0.fitted.classStatistics", try Tensor.zeros([1, 3])),
    ("experts.1.fitted.transforms", try Tensor.zeros([1, 5])),
    ("experts.1.fitted.means", try Tensor.zeros([1, 4])),
    ("experts.1.fitted.quantiles", try Tensor.zeros([2, 0])),
  ] {
    let original = state[key]
    state[key] = damaged
    let copy = try EvidenceGate(
      inputCount: 6, settings: EvidenceSettings(kind: .subspace, rank: 1), expertCount: 2)
    try copy.makeRoom(forState: state)
    try copy.loadState(state)
    copy.train(false)
    #expect(throws: (any Error).self, "\(key)") {
      try copy.probabilities(batch, expertHidden: [])
    }
    state[key] = original
  }
}

@Test func knownEvidenceGivesTheSameWeightsAsComputingIt() throws {
  let settings = EvidenceSettings(kind: .probabilisticSubspace, rank: 1)
  for learned in [nil, FixedGate([0.9, 0.1]) as (any Gate)?] {
    let (gate, batch) = try fittedGate(settings, learned: learned, temperature: 2)
    let computed = try gate.probabilities(batch, expertHidden: [])
    let (weights, evidence) = try gate.probabilities(batch, expertHidden: [], knownEvidence: [:])
    #expect(weights.values == computed.values)
    let perExpert = try #require(evidence)
    #expect(perExpert.count == 2 && perExpert.allSatisfy { $0.count == 4 })
    // Given back, in part or whole, the evidence routes the same.
    for known in [[0: perExpert[0]], [0: perExpert[0], 1: perExpert[1]]] {
      let (again, evidenceAgain) = try gate.probabilities(
        batch, expertHidden: [], knownEvidence: known)
      #expect(again.values == computed.values && evidenceAgain == perExpert)
    }
    // Evidence that favours expert 1 for every sample is taken as given, not recomputed.
    let (steered, _) = try gate.probabilities(
      batch, expertHidden: [], knownEvidence: [0: [-1e9, -1e9, -1e9, -1e9]])
    #expect(steered.values == [0, 1, 0, 1, 0, 1, 0, 1])
    #expect(throws: ModuleError.self) {
      try gate.probabilities(batch, expertHidden: [], knownEvidence: [1: [0, 0]])
    }
  }
}

@Test func anEvidenceGateWhileTrainingRoutesWithoutEvidence() throws {
  let (gate, batch) = try fittedGate(EvidenceSettings(kind: .subspace, rank: 1))
  gate.train(true)
  // Every expert fitted, no learned gate: training still routes by evidence.
  #expect(try gate.probabilities(batch, expertHidden: [], knownEvidence: [:]).evidence != nil)
  let (hybrid, hybridBatch) = try fittedGate(
    EvidenceSettings(kind: .subspace, rank: 1), learned: FixedGate([0.5, 0.5]))
  hybrid.train(true)
  let (weights, evidence) = try hybrid.probabilities(
    hybridBatch, expertHidden: [], knownEvidence: [:])
  #expect(evidence == nil && weights.values == [Float](repeating: 0.5, count: 8))
}
