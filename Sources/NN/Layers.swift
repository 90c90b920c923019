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

  /// Runs the layers in order. A ``Conv2D`` followed by a ``ReLU`` and a ``MaxPool2D`` (in
  /// either order: they commute) runs as one fused op,
  /// `Tensor.convolutionReLUMaxPool`, which computes the same function and gradient.
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    var value = input
    var index = 0
    while index < layers.count {
      if let (convolution, pool) = convolutionBlock(at: index) {
        value = try value.convolutionReLUMaxPool(
          weight: convolution.weight, bias: convolution.bias, stride: convolution.stride,
          padding: convolution.padding, poolSize: pool.kernelSize, poolStride: pool.stride)
        index += 3
      } else {
        value = try layers[index](value)
        index += 1
      }
    }
    return value
  }

  /// The convolution and pooling of a Conv2D, ReLU, MaxPool2D block (ReLU and pooling in
  /// either order) starting at `index`, or `nil`.
  private func convolutionBlock(at index: Int) -> (Conv2D, MaxPool2D)? {
    guard index + 2 < layers.count, let convolution = layers[index] as? Conv2D else {
      return nil
    }
    let (first, second) = (layers[index + 1], layers[index + 2])
    if first is ReLU, let pool = second as? MaxPool2D { return (convolution, pool) }
    if let pool = first as? MaxPool2D, second is ReLU { return (convolution, pool) }
    return nil
  }
}
