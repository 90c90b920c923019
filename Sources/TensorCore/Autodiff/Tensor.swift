/// A Float32 n-dimensional array with reverse-mode automatic differentiation.
///
/// Storage is contiguous and row-major. A tensor is a reference: parameters are tensors
/// with ``requiresGrad`` set, updated in place by optimizers. Operations throw
/// ``TensorError`` on a shape mismatch or an out-of-range index, naming both shapes.
///
/// An operation records how to differentiate itself only when one of its inputs requires a
/// gradient and gradients are enabled (see ``withGradientsDisabled(_:)``): a frozen
/// expert's tensors build no graph and cost no gradient work.
public final class Tensor: @unchecked Sendable {
  /// The size of each axis; `[]` for a scalar.
  public let shape: [Int]
  /// The elements.
  public let storage: TensorStorage
  /// The accumulated gradient of the last ``backward()`` calls, for leaves that require it.
  public var grad: Tensor?
  /// How to push this tensor's gradient back to its inputs, for results of operations.
  let gradientFunction: GradientFunction?
  private var wantsGradient: Bool

  /// Whether gradients flow to this tensor.
  ///
  /// Set it on leaves (parameters); results of operations require a gradient when any of
  /// their inputs do.
  public var requiresGrad: Bool {
    get { wantsGradient }
    set { wantsGradient = newValue }
  }

  /// Whether this tensor was created by the user rather than by a recorded operation.
  public var isLeaf: Bool { gradientFunction == nil }

  init(shape: [Int], storage: TensorStorage, gradientFunction: GradientFunction? = nil) {
    self.shape = shape
    self.storage = storage
    self.gradientFunction = gradientFunction
    self.wantsGradient = gradientFunction != nil
  }

  /// The number of elements.
  public var count: Int { storage.count }
  /// The number of axes.
  public var rank: Int { shape.count }

  /// A tensor of the given shape holding `values` in row-major order.
  ///
  /// - Throws: ``TensorError/invalidShape(operation:shape:expected:)`` when the shape has a
  ///   negative size or `values.count` differs from the shape's element count.
  public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) throws {
    let count = try Tensor.elementCount(shape, operation: "Tensor(shape:values:)")
    guard values.count == count else {
      throw TensorError.invalidShape(
        operation: "Tensor(shape:values:)", shape: shape,
        expected: "\(count) values, got \(values.count)")
    }
    let storage = TensorStorage(uninitializedCount: count)
    values.withUnsafeBufferPointer {
      storage.pointer.initialize(from: $0.baseAddress!, count: count)
    }
    self.init(shape: shape, storage: storage)
    self.requiresGrad = requiresGrad
  }

  /// A tensor of the given shape whose elements `initialize` writes, in row-major order,
  /// into an uninitialised buffer of the shape's element count; it must write every one.
  ///
  /// - Throws: ``TensorError/invalidShape(operation:shape:expected:)`` when the shape has a
  ///   negative size, or what `initialize` throws.
  public convenience init(
    shape: [Int], initializingWith initialize: (UnsafeMutableBufferPointer<Float>) throws -> Void
  ) throws {
    let count = try Tensor.elementCount(shape, operation: "Tensor(shape:initializingWith:)")
    let storage = TensorStorage(uninitializedCount: count)
    try initialize(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    self.init(shape: shape, storage: storage)
  }

  /// A scalar (rank 0) tensor.
  public convenience init(_ value: Float) {
    self.init(shape: [], storage: TensorStorage(count: 1, repeating: value))
  }

  /// A tensor of the given shape with every element set to `value`.
  public convenience init(shape: [Int], repeating value: Float, requiresGrad: Bool = false)
    throws
  {
    let count = try Tensor.elementCount(shape, operation: "Tensor(shape:repeating:)")
    self.init(shape: shape, storage: TensorStorage(count: count, repeating: value))
    self.requiresGrad = requiresGrad
  }

  /// A tensor of zeros.
  public static func zeros(_ shape: [Int], requiresGrad: Bool = false) throws -> Tensor {
    try Tensor(shape: shape, repeating: 0, requiresGrad: requiresGrad)
  }

  /// A tensor of ones.
  public static func ones(_ shape: [Int], requiresGrad: Bool = false) throws -> Tensor {
    try Tensor(shape: shape, repeating: 1, requiresGrad: requiresGrad)
  }

  /// A tensor whose elements are set by `fill` on an uninitialised buffer (internal
  /// kernels).
  static func make(
    _ shape: [Int], _ fill: (UnsafeMutablePointer<Float>) throws -> Void
  ) rethrows -> Tensor {
    let storage = TensorStorage(uninitializedCount: shape.reduce(1, *))
    try fill(storage.pointer)
    return Tensor(shape: shape, storage: storage)
  }

  /// A tensor of zeros with no gradient tracking (internal kernels).
  static func zerosUnchecked(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), repeating: 0))
  }

  static func elementCount(_ shape: [Int], operation: String) throws -> Int {
    guard shape.allSatisfy({ $0 >= 0 }) else {
      throw TensorError.invalidShape(
        operation: operation, shape: shape, expected: "sizes must be non-negative")
    }
    return shape.reduce(1, *)
  }

  // MARK: - Reading values

  /// The elements in row-major order.
  public var values: [Float] { Array(storage.buffer) }

  /// The single element of a one-element tensor.
  ///
  /// - Throws: ``TensorError/invalidShape(operation:shape:expected:)`` if there is not
  ///   exactly one element.
  public func item() throws -> Float {
    guard count == 1 else {
      throw TensorError.invalidShape(
        operation: "item", shape: shape, expected: "exactly one element")
    }
    return storage.pointer[0]
  }

  /// A copy that shares no graph: same values, no gradient history.
  public func detached() -> Tensor {
    Tensor(shape: shape, storage: storage)
  }

  /// An independent copy of the values, with no gradient history.
  public func copy() -> Tensor {
    Tensor.make(shape) { $0.initialize(from: storage.pointer, count: count) }
  }

  /// Overwrites the values with those of `other`, which must have the same shape.
  ///
  /// Records nothing for autodiff; used by optimizers and checkpoint loading.
  public func assign(_ other: Tensor) throws {
    guard other.shape == shape else {
      throw TensorError.shapeMismatch(
        operation: "assign", lhs: shape, rhs: other.shape, expected: "equal shapes")
    }
    storage.pointer.update(from: other.storage.pointer, count: count)
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let shown = values.prefix(8).map { "\($0)" }.joined(separator: ", ")
    return "Tensor(shape: \(shape), values: [\(shown)\(count > 8 ? ", …" : "")])"
  }
}
