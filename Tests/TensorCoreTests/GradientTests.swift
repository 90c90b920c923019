import TensorCore
import Testing
import _TestSupport

// A finite-difference check of every differentiable op: central differences in Float32
// with ε = 1e-2 (1e-3 for the piecewise-linear ops, whose inputs are kept away from their
// kinks), worst relative error below 1e-2.

/// One op under test: a name, the input shapes and the op.
private struct GradientCase: CustomStringConvertible {
  let name: String
  let shapes: [[Int]]
  var low: Float = -1
  var high: Float = 1
  var epsilon: Float = 1e-2
  let op: ([Tensor]) throws -> Tensor
  var description: String { name }
}

private let cases: [GradientCase] = [
  GradientCase(name: "add, broadcast [3,1] + [1,4]", shapes: [[3, 1], [1, 4]]) {
    try $0[0] + $0[1]
  },
  GradientCase(name: "subtract, broadcast [2,3,4] − [4]", shapes: [[2, 3, 4], [4]]) {
    try $0[0] - $0[1]
  },
  GradientCase(name: "multiply, scalar-shaped [] × [3,2]", shapes: [[], [3, 2]]) {
    try $0[0] * $0[1]
  },
  GradientCase(name: "divide, [2,3] ÷ [2,1]", shapes: [[2, 3], [2, 1]], low: 0.5, high: 2) {
    try $0[0] / $0[1]
  },
  GradientCase(name: "scalar ops and negation", shapes: [[3, 3]]) {
    -((($0[0] * 3) + 2) - 1) / 4
  },
  GradientCase(name: "exp", shapes: [[2, 5]]) { $0[0].exp() },
  GradientCase(name: "log", shapes: [[2, 5]], low: 0.5, high: 2) { $0[0].log() },
  GradientCase(name: "squareRoot", shapes: [[2, 5]], low: 0.5, high: 2) { $0[0].squareRoot() },
  GradientCase(name: "squared", shapes: [[2, 5]]) { $0[0].squared() },
  GradientCase(name: "relu", shapes: [[4, 6]], epsilon: 1e-3) { $0[0].relu() },
  GradientCase(name: "sum over an axis", shapes: [[3, 4, 2]]) { try $0[0].sum(axis: 1) },
  GradientCase(name: "sum keeping the axis", shapes: [[3, 4]]) {
    try $0[0].sum(axis: 0, keepingDimension: true)
  },
  GradientCase(name: "sum of everything", shapes: [[3, 4]]) { try $0[0].sum() },
  GradientCase(name: "mean over axes", shapes: [[2, 3, 4]]) { try $0[0].mean(axes: [0, 2]) },
  GradientCase(name: "max over an axis", shapes: [[4, 5]], epsilon: 1e-3) {
    try $0[0].max(axis: 1)
  },
  GradientCase(name: "broadcast to", shapes: [[3, 1]]) { try $0[0].broadcast(to: [2, 3, 4]) },
  GradientCase(name: "softmax", shapes: [[3, 5]], low: -3, high: 3) { try $0[0].softmax(axis: 1) },
  GradientCase(name: "logSoftmax over axis 0", shapes: [[4, 3]], low: -3, high: 3) {
    try $0[0].logSoftmax(axis: 0)
  },
  GradientCase(name: "matmul", shapes: [[3, 4], [4, 2]]) { try $0[0].matmul($0[1]) },
  GradientCase(name: "matmul with both transposes", shapes: [[4, 3], [2, 4]]) {
    try $0[0].matmul($0[1], transposeSelf: true, transposeOther: true)
  },
  GradientCase(name: "quadraticForm, both operands", shapes: [[5, 3], [5, 5]]) {
    try $0[0].quadraticForm($0[1], traceWeight: 0.7, rowSumWeight: -0.4)
  },
  GradientCase(name: "reshape", shapes: [[2, 6]]) { try $0[0].reshaped([3, 4]).squared() },
  GradientCase(name: "permute", shapes: [[2, 3, 4]]) { try $0[0].permuted([2, 0, 1]).squared() },
  GradientCase(name: "transpose", shapes: [[3, 5]]) { try $0[0].transposed().squared() },
  GradientCase(name: "slice", shapes: [[4, 5]]) { try $0[0].slice(axis: 1, 1..<4) },
  GradientCase(name: "gather with repeated indices", shapes: [[4, 3]]) {
    try $0[0].gather([2, 0, 2, 3], axis: 0)
  },
  GradientCase(name: "take along the last axis", shapes: [[3, 4]]) {
    try $0[0].takeAlongLastAxis([3, 0, 1])
  },
  GradientCase(name: "concatenate", shapes: [[2, 3], [2, 2]]) {
    try Tensor.concatenate([$0[0], $0[1]], axis: 1)
  },
  GradientCase(name: "stack", shapes: [[2, 3], [2, 3]]) {
    try Tensor.stack([$0[0], $0[1]], axis: 1)
  },
  GradientCase(
    name: "conv2d, row kernel (C·k² ≤ 32, stride 1)", shapes: [[2, 2, 6, 6], [3, 2, 3, 3], [3]]
  ) {
    try $0[0].conv2d(weight: $0[1], bias: $0[2], padding: 1)
  },
  GradientCase(
    name: "conv2d, direct kernel (stride 2)", shapes: [[2, 2, 7, 7], [3, 2, 3, 3], [3]]
  ) {
    try $0[0].conv2d(weight: $0[1], bias: $0[2], stride: 2, padding: 1)
  },
  GradientCase(
    name: "conv2d, im2col GEMM (C·k² > 32), no bias", shapes: [[2, 4, 5, 5], [3, 4, 3, 3]]
  ) {
    try $0[0].conv2d(weight: $0[1], stride: 1)
  },
  GradientCase(name: "maxPool2d", shapes: [[2, 2, 4, 6]], epsilon: 1e-3) {
    try $0[0].maxPool2d(kernelSize: 2)
  },
  GradientCase(
    name: "convolutionReLUMaxPool, padded, 2×2 pool", shapes: [[2, 2, 6, 6], [3, 2, 3, 3], [3]],
    epsilon: 1e-3
  ) {
    try $0[0].convolutionReLUMaxPool(weight: $0[1], bias: $0[2], padding: 1, poolSize: 2)
  },
  GradientCase(
    name: "convolutionReLUMaxPool, 2×2 kernel, 2 channels, unpadded",
    shapes: [[2, 2, 7, 7], [3, 2, 2, 2], [3]], epsilon: 1e-3
  ) {
    try $0[0].convolutionReLUMaxPool(weight: $0[1], bias: $0[2], poolSize: 2)
  },
  GradientCase(
    name: "convolutionReLUMaxPool, overlapping 3×3 pool, stride 2",
    shapes: [[2, 1, 9, 9], [2, 1, 3, 3], [2]], epsilon: 1e-3
  ) {
    try $0[0].convolutionReLUMaxPool(weight: $0[1], bias: $0[2], poolSize: 3, poolStride: 2)
  },
  GradientCase(
    name: "convolutionBatchNormReLUMaxPool, training, row kernel, 2×2 pool",
    shapes: [[3, 1, 6, 6], [2, 1, 3, 3], [2], [2], [2]], epsilon: 1e-3
  ) {
    try $0[0].convolutionBatchNormReLUMaxPool(
      weight: $0[1], bias: $0[2], normalizationWeight: $0[3], normalizationBias: $0[4],
      runningMean: nil, runningVariance: nil, training: true, poolSize: 2)
  },
  GradientCase(
    name: "convolutionBatchNormReLUMaxPool, training, padded, 2 channels, odd size",
    shapes: [[2, 2, 5, 5], [3, 2, 3, 3], [3], [3], [3]], epsilon: 1e-3
  ) {
    try $0[0].convolutionBatchNormReLUMaxPool(
      weight: $0[1], bias: $0[2], padding: 1, normalizationWeight: $0[3],
      normalizationBias: $0[4], runningMean: nil, runningVariance: nil, training: true,
      poolSize: 2)
  },
  GradientCase(
    name: "convolutionBatchNormReLUMaxPool, evaluation (running statistics)",
    shapes: [[2, 1, 6, 6], [2, 1, 3, 3], [2], [2], [2]], epsilon: 1e-3
  ) {
    try $0[0].convolutionBatchNormReLUMaxPool(
      weight: $0[1], bias: $0[2], normalizationWeight: $0[3], normalizationBias: $0[4],
      runningMean: try Tensor(shape: [2], values: [0.1, -0.2]),
      runningVariance: try Tensor(shape: [2], values: [0.5, 1.5]), training: false,
      poolSize: 2)
  },
  GradientCase(
    name: "convolutionBatchNormReLUMaxPool, overlapping pool (unfused path)",
    shapes: [[2, 1, 9, 9], [2, 1, 3, 3], [2], [2], [2]], epsilon: 1e-3
  ) {
    try $0[0].convolutionBatchNormReLUMaxPool(
      weight: $0[1], bias: $0[2], normalizationWeight: $0[3], normalizationBias: $0[4],
      runningMean: nil, runningVariance: nil, training: true, poolSize: 3, poolStride: 2)
  },
  GradientCase(name: "batchNorm training, rank 4", shapes: [[4, 3, 2, 2], [3], [3]]) {
    try $0[0].batchNorm(
      weight: $0[1], bias: $0[2], runningMean: nil, runningVariance: nil, training: true)
  },
  GradientCase(name: "batchNorm training, rank 2", shapes: [[6, 3], [3], [3]]) {
    try $0[0].batchNorm(
      weight: $0[1], bias: $0[2], runningMean: nil, runningVariance: nil, training: true)
  },
]

@Test(arguments: cases)
private func gradientMatchesFiniteDifferences(_ testCase: GradientCase) throws {
  let inputs = try testCase.shapes.enumerated().map { index, shape in
    try randomTensor(shape, low: testCase.low, high: testCase.high, seed: 100 + UInt64(index))
  }
  let result = try gradientCheck(inputs, epsilon: testCase.epsilon, testCase.op)
  #expect(result.worstError < 1e-2, "\(testCase.name): \(result)")
}
