import NN
import TensorCore
import Testing
import _TestSupport

// Finite-difference checks of every layer and loss, through gradientCheck (central
// differences in Float32, ε = 1e-2): the worst relative error must stay below 1e-2.

private let tolerance = 1e-2

@Test func linearGradientsMatchFiniteDifferences() throws {
  var generator = RandomGenerator(seed: 1)
  let layer = try Linear(5, 3, using: &generator)
  let input = try randomTensor([4, 5], seed: 2)
  let result = try gradientCheck([input, layer.weight, layer.bias!]) { _ in try layer(input) }
  #expect(result.worstError < tolerance, "\(result)")
}

@Test func conv2DGradientsMatchFiniteDifferences() throws {
  var generator = RandomGenerator(seed: 3)
  for (stride, padding) in [(1, 0), (1, 1), (2, 1)] {
    let layer = try Conv2D(2, 3, kernelSize: 3, stride: stride, padding: padding, using: &generator)
    let input = try randomTensor([2, 2, 6, 6], seed: 4)
    let result = try gradientCheck([input, layer.weight, layer.bias!]) { _ in try layer(input) }
    #expect(result.worstError < tolerance, "stride \(stride) padding \(padding): \(result)")
  }
}

@Test func maxPoolReluFlattenSequentialGradientsMatchFiniteDifferences() throws {
  var generator = RandomGenerator(seed: 5)
  let model = Sequential(
    try Conv2D(1, 2, kernelSize: 3, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
    Flatten(), try Linear(8, 3, using: &generator))
  // Distinct, well separated values keep max-pooling and ReLU away from ties and kinks.
  let input = try randomTensor([2, 1, 6, 6], low: -2, high: 2, seed: 6)
  let result = try gradientCheck([input] + model.parameters().map(\.tensor), epsilon: 1e-3) {
    _ in try model(input)
  }
  #expect(result.worstError < 2e-2, "\(result)")
}

@Test func batchNorm2DGradientsMatchFiniteDifferences() throws {
  let layer = try BatchNorm2D(3)
  try layer.weight.assign(Tensor(shape: [3], values: [1.5, 0.7, -1.2]))
  let input = try randomTensor([4, 3, 2, 2], seed: 7)
  let result = try gradientCheck([input, layer.weight, layer.bias]) { _ in try layer(input) }
  #expect(result.worstError < tolerance, "\(result)")
}

@Test func lossGradientsMatchFiniteDifferences() throws {
  let logits = try randomTensor([4, 5], low: -2, high: 2, seed: 8)
  let targets = [0, 4, 2, 2]
  let crossEntropyCheck = try gradientCheck([logits]) { inputs in
    try crossEntropy(logits: inputs[0], targets: targets)
  }
  #expect(crossEntropyCheck.worstError < tolerance, "\(crossEntropyCheck)")
  let probabilityCheck = try gradientCheck([logits]) { inputs in
    try negativeLogLikelihood(probabilities: inputs[0].softmax(axis: 1), targets: targets)
  }
  #expect(probabilityCheck.worstError < tolerance, "\(probabilityCheck)")
  let logProbabilityCheck = try gradientCheck([logits]) { inputs in
    try negativeLogLikelihood(logProbabilities: inputs[0].logSoftmax(axis: 1), targets: targets)
  }
  #expect(logProbabilityCheck.worstError < tolerance, "\(logProbabilityCheck)")
}

@Test func lossesRejectBadTargetsNamingTheShape() throws {
  let scores = try Tensor.zeros([2, 3])
  #expect(throws: TensorError.self) { try crossEntropy(logits: scores, targets: [0]) }
  do {
    _ = try crossEntropy(logits: scores, targets: [0, 3])
    Issue.record("expected an out-of-range error")
  } catch let error as TensorError {
    #expect(String(describing: error).contains("[2, 3]"))
  }
}

@Test func smallNetworkFitsSeparableClusters() throws {
  // Three Gaussian clusters in 2-D, well apart; an MLP should reach near-zero loss.
  var generator = RandomGenerator(seed: 12)
  let centres: [(Float, Float)] = [(2, 0), (-1, 1.7), (-1, -1.7)]
  var points: [Float] = []
  var labels: [Int] = []
  for index in 0..<150 {
    let label = index % 3
    points += [
      centres[label].0 + 0.3 * generator.nextNormal(),
      centres[label].1 + 0.3 * generator.nextNormal(),
    ]
    labels.append(label)
  }
  let input = try Tensor(shape: [150, 2], values: points)
  let model = Sequential(
    try Linear(2, 16, using: &generator), ReLU(), try Linear(16, 3, using: &generator))
  let optimizer = Adam(learningRate: 0.05)
  let initialLoss = try crossEntropy(logits: model(input), targets: labels).item()
  var loss = initialLoss
  for _ in 0..<100 {
    model.zeroGradients()
    let value = try crossEntropy(logits: model(input), targets: labels)
    try value.backward()
    try optimizer.update(model)
    loss = try value.item()
  }
  #expect(initialLoss > 0.5)
  #expect(loss < 0.05, "final loss \(loss)")
}
