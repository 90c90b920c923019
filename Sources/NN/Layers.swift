import TensorCore

/// The rectifier, max(x, 0), elementwise.
public final class ReLU: Module, UnaryLayer {
  /// The layer (it has no parameters).
  public override init() { super.init() }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module { ReLU() }

  /// max(x, 0) for every element.
  ///
  /// - Returns: The input's shape.
  public func callAsFunction(_ input: Tensor) throws -> Tensor { input.relu() }
}

/// Flattens every axis after the first: [N, …] → [N, product of the rest].
public final class Flatten: Module, UnaryLayer {
  /// The layer (it has no parameters).
  public override init() { super.init() }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module { Flatten() }

  /// The input as [N, product of the other axes], sharing its values.
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

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    Sequential(try layers.map { try $0.copy() })
  }

  /// Runs the layers in order. A ``Conv2D`` followed by a ``ReLU`` and a ``MaxPool2D`` (in
  /// either order: they commute) runs as one fused op, `Tensor.convolutionReLUMaxPool`,
  /// and one with a ``BatchNorm2D`` between them as
  /// `Tensor.convolutionBatchNormReLUMaxPool`; both compute the same function and
  /// gradient as the layers one by one.
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    var value = input
    var index = 0
    while index < layers.count {
      if let block = convolutionBlock(at: index) {
        let (convolution, pool) = (block.convolution, block.pool)
        if let normalization = block.normalization {
          value = try value.convolutionBatchNormReLUMaxPool(
            weight: convolution.weight, bias: convolution.bias, stride: convolution.stride,
            padding: convolution.padding, normalizationWeight: normalization.weight,
            normalizationBias: normalization.bias, runningMean: normalization.runningMean,
            runningVariance: normalization.runningVariance, training: normalization.isTraining,
            momentum: normalization.momentum, epsilon: normalization.epsilon,
            poolSize: pool.kernelSize, poolStride: pool.stride)
        } else {
          value = try value.convolutionReLUMaxPool(
            weight: convolution.weight, bias: convolution.bias, stride: convolution.stride,
            padding: convolution.padding, poolSize: pool.kernelSize, poolStride: pool.stride)
        }
        index += block.layerCount
      } else {
        value = try layers[index](value)
        index += 1
      }
    }
    return value
  }

  /// A Conv2D, optional BatchNorm2D, ReLU, MaxPool2D block (ReLU and pooling in either
  /// order) starting at `index`, or `nil`.
  private func convolutionBlock(at index: Int) -> (
    convolution: Conv2D, normalization: BatchNorm2D?, pool: MaxPool2D, layerCount: Int
  )? {
    guard let convolution = layers[index] as? Conv2D else { return nil }
    let normalization = index + 1 < layers.count ? layers[index + 1] as? BatchNorm2D : nil
    let next = index + (normalization == nil ? 1 : 2)
    guard next + 1 < layers.count else { return nil }
    let (first, second) = (layers[next], layers[next + 1])
    let layerCount = next + 2 - index
    if first is ReLU, let pool = second as? MaxPool2D {
      return (convolution, normalization, pool, layerCount)
    }
    if let pool = first as? MaxPool2D, second is ReLU {
      return (convolution, normalization, pool, layerCount)
    }
    return nil
  }
}
