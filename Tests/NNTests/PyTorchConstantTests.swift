import Foundation
import NN
import TensorCore
import Testing
import _TestSupport

// Reference values from PyTorch 2.15, printed by Tests/NNTests/pytorch_constants.py: the
// same formulas fill inputs and weights there and here.

/// sin(scale·i + offset) for i over the elements, as `pattern` in pytorch_constants.py.
private func pattern(_ shape: [Int], scale: Double = 0.37, offset: Double = 0.1) throws -> Tensor {
  let count = shape.reduce(1, *)
  return try Tensor(
    shape: shape, values: (0..<count).map { Float(sin(scale * Double($0) + offset)) })
}

private func expectClose(_ actual: Tensor, _ expected: [Float], tolerance: Float = 1e-5) {
  #expect(
    allClose(actual.values, expected, relative: tolerance, absolute: tolerance),
    "got \(actual.values)")
}

@Test func linearMatchesPyTorch() throws {
  var generator = RandomGenerator(seed: 0)
  let layer = try Linear(4, 3, using: &generator)
  try layer.weight.assign(pattern([3, 4], scale: 0.5, offset: 0.2))
  try layer.bias!.assign(pattern([3], scale: 0.9, offset: 0.3))
  expectClose(
    try layer(pattern([2, 4])),
    [2.2289655, 0.66711748, -0.84974313, 2.2078633, 1.8635564, -1.8244299])
}

@Test func conv2DWithStrideAndPaddingMatchesPyTorch() throws {
  var generator = RandomGenerator(seed: 0)
  let layer = try Conv2D(2, 3, kernelSize: 3, stride: 2, padding: 1, using: &generator)
  try layer.weight.assign(pattern([3, 2, 3, 3], scale: 0.3, offset: 0.5))
  try layer.bias!.assign(pattern([3], scale: 1.1, offset: 0))
  let output = try layer(pattern([1, 2, 5, 5], scale: 0.21, offset: 0))
  #expect(output.shape == [1, 3, 3, 3])
  expectClose(
    output,
    [
      2.2591698, 3.1980186, 1.84659, -0.16176984, -1.4600788, -1.6127995, -2.4193957,
      -3.0315921, -1.6053402, 3.3278913, 3.9606309, 2.5247667, -0.29217213, -1.4237443,
      -0.64025462, 0.09727256, 0.2496279, 0.69471884, 1.6424183, 1.5067607, 1.0355227,
      -0.5318985, -0.66999143, 0.47728005, 2.2200828, 3.0256767, 2.1644173,
    ])
}

@Test func maxPool2DDropsTheIncompleteWindowLikePyTorch() throws {
  let output = try MaxPool2D(kernelSize: 2)(pattern([1, 2, 4, 5], scale: 0.83, offset: 0))
  #expect(output.shape == [1, 2, 2, 2])
  expectClose(
    output,
    [
      0.73793137, 0.99602401, 0.90217185, 0.99963099, 0.94615644, 0.23813395, 0.56237793,
      0.98971617,
    ])
}

@Test func batchNorm2DTrainingEvaluationAndRunningStatisticsMatchPyTorch() throws {
  let layer = try BatchNorm2D(3)
  try layer.weight.assign(Tensor(shape: [3], values: [1.5, 0.5, -1.0]))
  try layer.bias.assign(Tensor(shape: [3], values: [0.1, -0.2, 0.3]))
  let input = try pattern([2, 3, 2, 2], scale: 0.71, offset: 0) * 2 + 0.5
  expectClose(
    try layer(input),
    [
      -0.48621064, 1.0163989, 1.792833, 1.4678594, 0.27853656, -0.28170386, -0.68704683,
      -0.74159962, 1.7470498, 0.63651103, -0.38911918, -0.83417815, 1.3263434, -0.040041517,
      -1.6220492, -2.6551332, -0.7152313, -0.34553218, 0.20991117, 0.68266606, -0.83251971,
      -0.36764035, 0.66743004, 1.7724667,
    ], tolerance: 1e-4)
  expectClose(layer.runningMean, [0.10085978, -0.0091819074, 0.11216164])
  expectClose(layer.runningVariance, [1.0935589, 1.0754673, 1.0683243])
  layer.train(false)
  expectClose(
    try layer(pattern([1, 3, 2, 2], scale: 0.4, offset: 1)),
    [
      1.1623275, 1.3688496, 1.3522077, 1.1150291, 0.05296858, -0.12753408, -0.3187786,
      -0.49057165, 1.251756, 1.3699012, 1.3362647, 1.156157,
    ])
  #expect(Set(layer.parameters().map(\.key)) == ["weight", "bias"])
  #expect(Set(layer.state().map(\.key)) == ["weight", "bias", "runningMean", "runningVariance"])
}

@Test func softmaxIsStableForLargeLogitsLikePyTorch() throws {
  let logits = try Tensor(shape: [2, 3], values: [1000, 1001, 1002, -3, 0, 2.5])
  expectClose(
    try logits.softmax(axis: 1),
    [0.090030573, 0.24472848, 0.66524094, 0.0037625465, 0.075572766, 0.92066473])
  expectClose(
    try logits.logSoftmax(axis: 1),
    [-2.4076059, -1.4076059, -0.40760595, -5.5826592, -2.5826592, -0.082659356])
}

@Test func crossEntropyMatchesPyTorch() throws {
  let logits = try pattern([3, 4], scale: 1.3, offset: 0) * 3
  expectClose(try crossEntropy(logits: logits, targets: [0, 3, 1]), [3.6125438])
}

/// One weight vector fitted to Σ c·(w − target)² for three steps.
private final class Quadratic: Module {
  let w: Tensor
  init(_ start: Tensor) {
    w = start
    w.requiresGrad = true
  }
  func loss() throws -> Tensor {
    let target = try pattern([5], scale: 0.3, offset: 1)
    let c = try Tensor(shape: [5], values: [1, 2, 0.5, 3, 1.5])
    return try ((w - target).squared() * c).sum()
  }
}

private func threeSteps(_ optimizer: any Optimizer) throws -> Tensor {
  let model = Quadratic(try pattern([5], scale: 0.9, offset: 0))
  for _ in 0..<3 {
    model.zeroGradients()
    try model.loss().backward()
    try optimizer.update(model)
  }
  return model.w
}

@Test func adamWithWeightDecayMatchesPyTorchOverThreeSteps() throws {
  expectClose(
    try threeSteps(Adam(learningRate: 0.1, weightDecay: 0.01)),
    [0.29793072, 1.0405027, 0.95093811, 0.72279727, -0.14367802])
}

@Test func sgdWithMomentumMatchesPyTorchOverThreeSteps() throws {
  expectClose(
    try threeSteps(SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 0.01)),
    [0.43232253, 0.95046854, 0.97814035, 1.0893232, 0.47998685])
}
