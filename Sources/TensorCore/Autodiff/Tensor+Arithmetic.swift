#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// MARK: - Broadcasting

extension Tensor {
  /// The shape two operands broadcast to, NumPy style: axes aligned from the right, sizes
  /// equal or one of them 1.
  ///
  /// - Throws: ``TensorError/shapeMismatch(operation:lhs:rhs:expected:)`` naming both
  ///   shapes.
  public static func broadcastShape(_ lhs: [Int], _ rhs: [Int], operation: String) throws
    -> [Int]
  {
    let rank = Swift.max(lhs.count, rhs.count)
    let left = Array(repeating: 1, count: rank - lhs.count) + lhs
    let right = Array(repeating: 1, count: rank - rhs.count) + rhs
    return try zip(left, right).map { l, r in
      guard l == r || l == 1 || r == 1 else {
        throw TensorError.shapeMismatch(
          operation: operation, lhs: lhs, rhs: rhs,
          expected: "broadcastable: each axis equal or 1")
      }
      return l == 1 ? r : l
    }
  }

  /// Element strides of a tensor of `shape` read as `target`, 0 along broadcast axes.
  static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let padded = Array(repeating: 1, count: target.count - shape.count) + shape
    var strides = Array(repeating: 0, count: target.count)
    var step = 1
    for axis in stride(from: target.count - 1, through: 0, by: -1) {
      strides[axis] = padded[axis] == 1 ? 0 : step
      step *= padded[axis]
    }
    return strides
  }

  /// Applies `function` elementwise over the broadcast of `a` and `b`.
  static func broadcastKernel<Function: BinaryFunction>(
    _ a: Tensor, _ b: Tensor, shape: [Int], _ function: Function
  ) -> TensorStorage {
    @inline(__always) func combine(_ x: Float, _ y: Float) -> Float { function(x, y) }
    let count = shape.reduce(1, *)
    let out = TensorStorage(uninitializedCount: count)
    let pa = UnsafeSendable(a.storage.pointer)
    let pb = UnsafeSendable(b.storage.pointer)
    let po = UnsafeSendable(out.pointer)
    if a.shape == b.shape {
      Compute.parallelRanges(count) { range in
        let (x, y, o) = (pa.value, pb.value, po.value)
        for i in range { o[i] = combine(x[i], y[i]) }
      }
      return out
    }
    if b.count == 1 && a.count == count {
      let y = pb.value[0]
      Compute.parallelRanges(count) { range in
        let (x, o) = (pa.value, po.value)
        for i in range { o[i] = combine(x[i], y) }
      }
      return out
    }
    if a.count == 1 && b.count == count {
      let x = pa.value[0]
      Compute.parallelRanges(count) { range in
        let (y, o) = (pb.value, po.value)
        for i in range { o[i] = combine(x, y[i]) }
      }
      return out
    }
    let stridesA = broadcastStrides(a.shape, to: shape)
    let stridesB = broadcastStrides(b.shape, to: shape)
    let inner = shape.last ?? 1
    let rows = inner == 0 ? 0 : count / inner
    let innerA = stridesA.last ?? 0
    let innerB = stridesB.last ?? 0
    let rowsPerChunk = Swift.max(
      1, Compute.chunkSize(count, minimumChunk: 32_768) / Swift.max(inner, 1))
    Compute.parallelRanges(rows, minimumChunk: rowsPerChunk) { rowRange in
      let (x, y, o) = (pa.value, pb.value, po.value)
      for row in rowRange {
        var offsetA = 0
        var offsetB = 0
        var rest = row
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
          let index = rest % shape[axis]
          rest /= shape[axis]
          offsetA += index * stridesA[axis]
          offsetB += index * stridesB[axis]
        }
        let xo = x + offsetA
        let yo = y + offsetB
        let oo = o + row * inner
        switch (innerA, innerB) {
        case (1, 1): for j in 0..<inner { oo[j] = combine(xo[j], yo[j]) }
        case (1, 0): for j in 0..<inner { oo[j] = combine(xo[j], yo[0]) }
        case (0, 1): for j in 0..<inner { oo[j] = combine(xo[0], yo[j]) }
        default: for j in 0..<inner { oo[j] = combine(xo[0], yo[0]) }
        }
      }
    }
    return out
  }

  /// Sums `self` over broadcast axes so that it has `target` shape (the adjoint of
  /// broadcasting).
  func reduced(toShape target: [Int]) throws -> Tensor {
    if shape == target { return self }
    let padded = Array(repeating: 1, count: rank - target.count) + target
    var result = self
    for axis in (0..<rank).reversed() where padded[axis] == 1 && shape[axis] != 1 {
      result = try result.sum(axis: axis, keepingDimension: true)
    }
    return try result.reshaped(target)
  }

  static func binary<Function: BinaryFunction>(
    _ a: Tensor, _ b: Tensor, name: String, _ function: Function,
    backward: @escaping (Tensor) throws -> (Tensor?, Tensor?)
  ) throws -> Tensor {
    let shape = try broadcastShape(a.shape, b.shape, operation: name)
    let storage = broadcastKernel(a, b, shape: shape, function)
    return result(shape, storage, inputs: [a, b], name: name) { gradient in
      let (ga, gb) = try backward(gradient)
      return [try ga?.reduced(toShape: a.shape), try gb?.reduced(toShape: b.shape)]
    }
  }
}

// MARK: - Binary operators

extension Tensor {
  /// Elementwise sum, broadcasting.
  public static func + (a: Tensor, b: Tensor) throws -> Tensor {
    try binary(a, b, name: "add", Add()) { g in
      (a.requiresGrad ? g : nil, b.requiresGrad ? g : nil)
    }
  }

  /// Elementwise difference, broadcasting.
  public static func - (a: Tensor, b: Tensor) throws -> Tensor {
    try binary(a, b, name: "subtract", Subtract()) { g in
      (a.requiresGrad ? g : nil, b.requiresGrad ? -g : nil)
    }
  }

  /// Elementwise product, broadcasting.
  public static func * (a: Tensor, b: Tensor) throws -> Tensor {
    try binary(a, b, name: "multiply", Multiply()) { g in
      (a.requiresGrad ? try g * b : nil, b.requiresGrad ? try g * a : nil)
    }
  }

  /// Elementwise quotient, broadcasting.
  public static func / (a: Tensor, b: Tensor) throws -> Tensor {
    try binary(a, b, name: "divide", Divide()) { g in
      (
        a.requiresGrad ? try g / b : nil,
        b.requiresGrad ? try -(g * a / (b * b)) : nil
      )
    }
  }
}

// MARK: - Scalars and unary operations

extension Tensor {
  /// Applies `function` to every element, recording its derivative.
  func unary<Function: UnaryFunction>(name: String, _ function: Function) -> Tensor {
    let out = TensorStorage(uninitializedCount: count)
    let source = UnsafeSendable(storage.pointer)
    let target = UnsafeSendable(out.pointer)
    Compute.parallelRanges(count) { range in
      let (x, y) = (source.value, target.value)
      for i in range { y[i] = function(x[i]) }
    }
    let input = self
    let output = Tensor(shape: shape, storage: out)
    return Tensor.result(shape, out, inputs: [self], name: name) { g in
      let gradient = TensorStorage(uninitializedCount: input.count)
      let pointers = UnsafeSendable(
        (input.storage.pointer, output.storage.pointer, g.storage.pointer, gradient.pointer))
      Compute.parallelRanges(input.count) { range in
        let (x, y, upstream, result) = pointers.value
        for i in range { result[i] = upstream[i] * function.derivative(x: x[i], y: y[i]) }
      }
      return [Tensor(shape: input.shape, storage: gradient)]
    }
  }

  /// Elementwise negation.
  public static prefix func - (x: Tensor) -> Tensor {
    x.unary(name: "negate", Affine(scale: -1, shift: 0))
  }

  /// Adds a scalar to every element.
  public static func + (x: Tensor, scalar: Float) -> Tensor {
    x.unary(name: "add scalar", Affine(scale: 1, shift: scalar))
  }

  /// Adds a scalar to every element.
  public static func + (scalar: Float, x: Tensor) -> Tensor { x + scalar }

  /// Subtracts a scalar from every element.
  public static func - (x: Tensor, scalar: Float) -> Tensor { x + (-scalar) }

  /// Subtracts every element from a scalar.
  public static func - (scalar: Float, x: Tensor) -> Tensor {
    x.unary(name: "scalar minus", Affine(scale: -1, shift: scalar))
  }

  /// Multiplies every element by a scalar.
  public static func * (x: Tensor, scalar: Float) -> Tensor {
    x.unary(name: "scale", Affine(scale: scalar, shift: 0))
  }

  /// Multiplies every element by a scalar.
  public static func * (scalar: Float, x: Tensor) -> Tensor { x * scalar }

  /// Divides every element by a scalar.
  public static func / (x: Tensor, scalar: Float) -> Tensor { x * (1 / scalar) }

  /// e raised to each element.
  public func exp() -> Tensor {
    unary(name: "exp", Exponential())
  }

  /// The natural logarithm of each element (−∞ at 0, NaN below).
  public func log() -> Tensor {
    unary(name: "log", Logarithm())
  }

  /// The square root of each element.
  public func squareRoot() -> Tensor {
    unary(name: "sqrt", SquareRoot())
  }

  /// Each element squared.
  public func squared() -> Tensor {
    unary(name: "square", Square())
  }

  /// Swift.max(x, 0) elementwise; the gradient at 0 is 0, as in PyTorch.
  public func relu() -> Tensor {
    unary(name: "relu", RectifiedLinear())
  }
}

// MARK: - Elementwise functions

/// A function of two elements, specialised into the broadcasting kernel.
protocol BinaryFunction {
  func callAsFunction(_ x: Float, _ y: Float) -> Float
}

struct Add: BinaryFunction {
  @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x + y }
}

struct Subtract: BinaryFunction {
  @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x - y }
}

struct Multiply: BinaryFunction {
  @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x * y }
}

struct Divide: BinaryFunction {
  @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x / y }
}

/// A function of one element and its derivative, specialised into the unary kernel.
protocol UnaryFunction {
  func callAsFunction(_ x: Float) -> Float
  /// dy/dx, given the input x and the output y.
  func derivative(x: Float, y: Float) -> Float
}

/// scale·x + shift.
struct Affine: UnaryFunction {
  let scale: Float
  let shift: Float
  @inline(__always) func callAsFunction(_ x: Float) -> Float { scale * x + shift }
  @inline(__always) func derivative(x: Float, y: Float) -> Float { scale }
}

struct Exponential: UnaryFunction {
  @inline(__always) func callAsFunction(_ x: Float) -> Float { expf(x) }
  @inline(__always) func derivative(x: Float, y: Float) -> Float { y }
}

struct Logarithm: UnaryFunction {
  @inline(__always) func callAsFunction(_ x: Float) -> Float { logf(x) }
  @inline(__always) func derivative(x: Float, y: Float) -> Float { 1 / x }
}

struct SquareRoot: UnaryFunction {
  @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() }
  @inline(__always) func derivative(x: Float, y: Float) -> Float { 0.5 / y }
}

struct Square: UnaryFunction {
  @inline(__always) func callAsFunction(_ x: Float) -> Float { x * x }
  @inline(__always) func derivative(x: Float, y: Float) -> Float { 2 * x }
}

/// max(x, 0), with derivative 0 at 0 as in PyTorch.
struct RectifiedLinear: UnaryFunction {
  @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.max(x, 0) }
  @inline(__always) func derivative(x: Float, y: Float) -> Float { x > 0 ? 1 : 0 }
}
