import TensorCore

/// A 2-D convolution (cross-correlation) over [N, C, H, W], as PyTorch's `nn.Conv2d`.
public final class Conv2D: Module, UnaryLayer {
  /// [outChannels, inChannels, kernelSize, kernelSize].
  public let weight: Tensor
  /// [outChannels], or `nil`.
  public let bias: Tensor?
  /// The step between windows.
  public let stride: Int
  /// Zero padding added on every side.
  public let padding: Int

  /// A convolution with square `kernelSize` windows.
  ///
  /// - Parameter generator: The run's seeded generator; weights are drawn first, then the
  ///   bias. Initialisers get fanIn = inChannels·k², fanOut = outChannels·k².
  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    bias: Bool = true, weightInitializer: Initializer = .pytorchDefault,
    biasInitializer: Initializer = .pytorchDefault, using generator: inout RandomGenerator
  ) throws {
    guard inChannels > 0, outChannels > 0, kernelSize > 0, stride > 0, padding >= 0 else {
      throw ModuleError.invalidConfiguration(
        "Conv2D: channels \(inChannels) → \(outChannels), kernel \(kernelSize), stride "
          + "\(stride) must be positive and padding \(padding) non-negative")
    }
    let fanIn = inChannels * kernelSize * kernelSize
    let fanOut = outChannels * kernelSize * kernelSize
    weight = try weightInitializer.makeTensor(
      [outChannels, inChannels, kernelSize, kernelSize], fanIn: fanIn, fanOut: fanOut,
      using: &generator)
    weight.requiresGrad = true
    if bias {
      let b = try biasInitializer.makeTensor(
        [outChannels], fanIn: fanIn, fanOut: fanOut, using: &generator)
      b.requiresGrad = true
      self.bias = b
    } else {
      self.bias = nil
    }
    self.stride = stride
    self.padding = padding
    super.init()
  }

  private init(weight: Tensor, bias: Tensor?, stride: Int, padding: Int) {
    self.weight = weight
    self.bias = bias
    self.stride = stride
    self.padding = padding
    super.init()
  }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    Conv2D(weight: weight.copy(), bias: bias?.copy(), stride: stride, padding: padding)
  }

  /// Convolves `input` with the filters and adds the bias.
  ///
  /// - Parameter input: [N, inChannels, H, W].
  /// - Returns: [N, outChannels, H′, W′].
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    try input.conv2d(weight: weight, bias: bias, stride: stride, padding: padding)
  }
}

/// 2-D max pooling with square windows, as PyTorch's `nn.MaxPool2d` without padding.
public final class MaxPool2D: Module, UnaryLayer {
  /// The window's height and width.
  public let kernelSize: Int
  /// The step between windows.
  public let stride: Int

  /// Pooling over `kernelSize`² windows, `stride` apart (`kernelSize` unless given).
  public init(kernelSize: Int, stride: Int? = nil) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    super.init()
  }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    MaxPool2D(kernelSize: kernelSize, stride: stride)
  }

  /// The maximum of each window.
  ///
  /// - Parameter input: [N, C, H, W].
  /// - Returns: [N, C, ⌊(H − k)/stride⌋ + 1, ⌊(W − k)/stride⌋ + 1].
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    try input.maxPool2d(kernelSize: kernelSize, stride: stride)
  }
}
