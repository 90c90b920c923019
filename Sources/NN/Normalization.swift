import TensorCore

/// Batch normalisation over the channels of [N, C, H, W] (or [N, C]), as PyTorch's
/// `nn.BatchNorm2d`.
///
/// In training mode it normalises with the batch's statistics and moves the running
/// statistics by `momentum`; in evaluation mode it uses the running statistics. The running
/// statistics are state, never trainable.
public final class BatchNorm2D: Module, UnaryLayer {
  /// γ, [C], initialised to ones.
  public let weight: Tensor
  /// β, [C], initialised to zeros.
  public let bias: Tensor
  /// The running mean, [C], initialised to zeros.
  public let runningMean: Tensor
  /// The running (unbiased) variance, [C], initialised to ones.
  public let runningVariance: Tensor
  /// The weight of the newest batch in the running statistics.
  public let momentum: Float
  /// Added to the variance before the square root.
  public let epsilon: Float

  /// Normalisation of `channels` channels.
  public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) throws {
    guard channels > 0 else {
      throw ModuleError.invalidConfiguration("BatchNorm2D: channels must be positive")
    }
    weight = try Tensor(shape: [channels], repeating: 1, requiresGrad: true)
    bias = try Tensor(shape: [channels], repeating: 0, requiresGrad: true)
    runningMean = try Tensor(shape: [channels], repeating: 0)
    runningVariance = try Tensor(shape: [channels], repeating: 1)
    self.momentum = momentum
    self.epsilon = epsilon
    super.init()
  }

  public override var statisticNames: Set<String> { ["runningMean", "runningVariance"] }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    try BatchNorm2D(weight.count, momentum: momentum, epsilon: epsilon)
  }

  /// Normalises each channel with the batch's statistics while training (updating the
  /// running ones) or with the running ones in evaluation mode, then scales and shifts.
  ///
  /// - Parameter input: [N, C, H, W] or [N, C].
  /// - Returns: The input's shape.
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    try input.batchNorm(
      weight: weight, bias: bias, runningMean: runningMean, runningVariance: runningVariance,
      training: isTraining, momentum: momentum, epsilon: epsilon)
  }
}
