import TensorCore

/// The rectifier, max(x, 0), elementwise.
public final class ReLU: Module, UnaryLayer {
  public override init() { super.init() }

  /// - Returns: The input's shape.
  public func callAsFunction(_ input: Tensor) throws -> Tensor { input.relu() }
}

/// Flattens every axis after the first: [N, …] → [N, product of the rest].
public final class Flatten: Module, UnaryLayer {
  public override init() { super.init() }

  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    guard input.rank >= 1 else {
      throw TensorError.invalidShape(
        operation: "Flatten", shape: input.shape, expected: "at least one axis")
    }
    return try input.reshaped([input.shape[0], input.count / max(input.shape[0], 1)])
  }
}

/// Layers applied one after another; keys are `layers.0.…`, `layers.1.…`.
public final class Sequential: Module, UnaryLayer {
  /// The layers, in order.
  public let layers: [any UnaryLayer]

  /// A chain of `layers`.
  public init(_ layers: [any UnaryLayer]) {
    self.layers = layers
    super.init()
  }

  /// A chain of the given layers.
  public convenience init(_ layers: any UnaryLayer...) {
    self.init(layers)
  }

  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    try layers.reduce(input) { try $1($0) }
  }
}
