import TensorCore

/// A fully connected layer, y = x·Wᵀ + b, with the weight stored `[out, in]` as in PyTorch.
public final class Linear: Module, UnaryLayer {
  /// W, [outputCount, inputCount].
  public let weight: Tensor
  /// b, [outputCount], or `nil` for a layer without bias.
  public let bias: Tensor?

  /// The number of input features.
  public var inputCount: Int { weight.shape[1] }
  /// The number of output features.
  public var outputCount: Int { weight.shape[0] }

  /// A layer from `inputCount` to `outputCount` features.
  ///
  /// - Parameters:
  ///   - bias: Whether the layer adds a bias.
  ///   - weightInitializer: PyTorch's default unless given.
  ///   - biasInitializer: PyTorch's default unless given.
  ///   - generator: The run's seeded generator; weights are drawn first, then the bias.
  public init(
    _ inputCount: Int, _ outputCount: Int, bias: Bool = true,
    weightInitializer: Initializer = .pytorchDefault,
    biasInitializer: Initializer = .pytorchDefault,
    using generator: inout RandomGenerator
  ) throws {
    guard inputCount > 0, outputCount > 0 else {
      throw ModuleError.invalidConfiguration(
        "Linear: feature counts must be positive, got \(inputCount) → \(outputCount)")
    }
    weight = try weightInitializer.makeTensor(
      [outputCount, inputCount], fanIn: inputCount, fanOut: outputCount, using: &generator)
    weight.requiresGrad = true
    if bias {
      let b = try biasInitializer.makeTensor(
        [outputCount], fanIn: inputCount, fanOut: outputCount, using: &generator)
      b.requiresGrad = true
      self.bias = b
    } else {
      self.bias = nil
    }
    super.init()
  }

  private init(weight: Tensor, bias: Tensor?) {
    self.weight = weight
    self.bias = bias
    super.init()
  }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    Linear(weight: weight.copy(), bias: bias?.copy())
  }

  /// x·Wᵀ + b.
  ///
  /// - Parameter input: [B, inputCount].
  /// - Returns: [B, outputCount].
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    let product = try input.matmul(weight, transposeOther: true)
    guard let bias else { return product }
    return try product + bias
  }
}
