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

/// Layers applied one after another, each as given: a ``ConvBlock`` runs its fused op.
///
/// Keys number the layers, a ``ConvBlock`` counted as the separate layers of its
/// ``ConvBlock/layers``: `Sequential(try ConvBlock(convolution, batchNorm: norm, pool: pool),
/// Flatten(), linear)` has the keys `layers.0.…` (the convolution), `layers.1.…` (the batch
/// normalisation) and `layers.5.…` (the linear layer), as `Sequential(convolution, norm,
/// ReLU(), pool, Flatten(), linear)` does, so a checkpoint of either loads into the other.
public final class Sequential: Module, UnaryLayer {
  /// The layers in order, each ``ConvBlock`` as its separate layers: the modules that keys
  /// number.
  public let layers: [any UnaryLayer]
  /// The layers as given, in the order they run; the leading `_` keeps the module walk (and
  /// so the keys) to ``layers``.
  private let _steps: [any UnaryLayer]

  /// A chain of `layers`.
  public init(_ layers: [any UnaryLayer]) {
    self.layers = layers.flatMap { ($0 as? ConvBlock)?.layers ?? [$0] }
    _steps = layers
    super.init()
  }

  /// A chain of the given layers.
  public convenience init(_ layers: any UnaryLayer...) {
    self.init(layers)
  }

  public override var reportsStructureChanges: Bool { true }

  public override func makeCopy() throws -> Module {
    Sequential(try _steps.map { try $0.copy() })
  }

  /// The layers as given, in the order they run: each ``ConvBlock`` is one step.
  public var steps: [any UnaryLayer] { _steps }

  /// Runs the layers as given, one after another.
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    try _steps.reduce(input) { try $1($0) }
  }

  /// Runs only the given ``steps``, one after another: a chain split in two runs as
  /// `self(self(input, steps: 0..<k), steps: k..<steps.count)`.
  ///
  /// - Precondition: `steps` lies within `0...self.steps.count`.
  public func callAsFunction(_ input: Tensor, steps range: Range<Int>) throws -> Tensor {
    try _steps[range].reduce(input) { try $1($0) }
  }
}
