import TensorCore

/// A convolution, optional batch normalisation, ReLU and optional max pooling, run as one
/// fused op: the same function and gradients as the layers one after another, with less
/// time and memory.
///
/// With a pool it runs `Tensor.convolutionBatchNormReLUMaxPool`, or
/// `Tensor.convolutionReLUMaxPool` without batch normalisation; without a pool there is no
/// fused op and the layers run one by one. The batch normalisation's mode (``Module/train(_:)``
/// on the block or on any module holding it) chooses batch or running statistics.
///
/// Its keys are its layers' (`convolution.weight`, `batchNorm.runningMean`); a
/// ``Sequential`` numbers them as the separate layers of ``layers``.
public final class ConvBlock: Module, UnaryLayer {
  /// The convolution.
  public let convolution: Conv2D
  /// The batch normalisation of the convolution's output, or `nil`.
  public let batchNorm: BatchNorm2D?
  /// The rectifier after the convolution (and batch normalisation).
  private let rectifier = ReLU()
  /// The max pooling after the rectifier, or `nil`.
  public let pool: MaxPool2D?

  /// A block of `convolution`, then `batchNorm` if given, ReLU, then `pool` if given.
  ///
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` when `batchNorm` does not have one
  ///   channel per filter of `convolution`.
  public init(_ convolution: Conv2D, batchNorm: BatchNorm2D? = nil, pool: MaxPool2D? = nil)
    throws
  {
    let filters = convolution.weight.shape[0]
    if let batchNorm, batchNorm.weight.shape != [filters] {
      throw ModuleError.invalidConfiguration(
        "ConvBlock: the batch normalisation has \(batchNorm.weight.count) channels, the "
          + "convolution \(filters) filters")
    }
    self.convolution = convolution
    self.batchNorm = batchNorm
    self.pool = pool
    super.init()
  }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    try ConvBlock(convolution.copy(), batchNorm: batchNorm?.copy(), pool: pool?.copy())
  }

  /// The layers the block computes, in order: the convolution, the batch normalisation if
  /// any, ReLU, the pooling if any.
  public var layers: [any UnaryLayer] {
    [convolution] + (batchNorm.map { [$0] } ?? []) + [rectifier] + (pool.map { [$0] } ?? [])
  }

  /// The layers' function, as one fused op when there is a pool.
  ///
  /// - Parameter input: [N, inChannels, H, W].
  /// - Returns: [N, filters, H′, W′]: the convolution's output size, pooled if there is a
  ///   pool.
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    let c = convolution
    guard let pool else { return try layers.reduce(input) { try $1($0) } }
    guard let batchNorm else {
      return try input.convolutionReLUMaxPool(
        weight: c.weight, bias: c.bias, stride: c.stride, padding: c.padding,
        poolSize: pool.kernelSize, poolStride: pool.stride)
    }
    return try input.convolutionBatchNormReLUMaxPool(
      weight: c.weight, bias: c.bias, stride: c.stride, padding: c.padding,
      normalizationWeight: batchNorm.weight, normalizationBias: batchNorm.bias,
      runningMean: batchNorm.runningMean, runningVariance: batchNorm.runningVariance,
      training: batchNorm.isTraining, momentum: batchNorm.momentum, epsilon: batchNorm.epsilon,
      poolSize: pool.kernelSize, poolStride: pool.stride)
  }
}
