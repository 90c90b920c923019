// MARK: - Views and copies

extension Tensor {
  /// The same elements under a new shape; one size may be −1 and is inferred.
  ///
  /// Shares storage with `self`.
  /// - Throws: ``TensorError/shapeMismatch(operation:lhs:rhs:expected:)`` when the element
  ///   counts differ.
  public func reshaped(_ newShape: [Int]) throws -> Tensor {
    var resolved = newShape
    let inferred = newShape.indices.filter { newShape[$0] == -1 }
    let known = newShape.filter { $0 != -1 }
    guard inferred.count <= 1, known.allSatisfy({ $0 >= 0 }) else {
      throw TensorError.shapeMismatch(
        operation: "reshape", lhs: shape, rhs: newShape,
        expected: "non-negative sizes with at most one −1")
    }
    let knownCount = known.reduce(1, *)
    if let axis = inferred.first {
      guard knownCount > 0, count % knownCount == 0 else {
        throw TensorError.shapeMismatch(
          operation: "reshape", lhs: shape, rhs: newShape,
          expected: "\(count) elements divisible by \(knownCount)")
      }
      resolved[axis] = count / knownCount
    }
    guard resolved.reduce(1, *) == count else {
      throw TensorError.shapeMismatch(
        operation: "reshape", lhs: shape, rhs: newShape, expected: "equal element counts")
    }
    let inputShape = shape
    return Tensor.result(resolved, storage, inputs: [self], name: "reshape") { g in
      [try g.reshaped(inputShape)]
    }
  }

  /// The axes reordered: result axis `i` is input axis `axes[i]`.
  ///
  /// - Throws: ``TensorError/invalidArgument(operation:message:)`` unless `axes` is a
  ///   permutation of the axes.
  public func permuted(_ axes: [Int]) throws -> Tensor {
    guard axes.sorted() == Array(0..<rank) else {
      throw TensorError.invalidArgument(
        operation: "permute", message: "\(axes) is not a permutation of the axes of \(shape)")
    }
    if axes == Array(0..<rank) { return self }
    let outShape = axes.map { shape[$0] }
    var inputStrides = Array(repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) {
      inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1]
    }
    let strides = axes.map { inputStrides[$0] }
    let out = TensorStorage(uninitializedCount: count)
    let inner = outShape.last ?? 1
    let innerStride = strides.last ?? 1
    let rows = inner == 0 ? 0 : count / inner
    let (x, o) = (UnsafeSendable(storage.pointer), UnsafeSendable(out.pointer))
    Compute.parallelRanges(rows, minimumChunk: Swift.max(1, 32_768 / Swift.max(inner, 1))) {
      range in
      for row in range {
        var offset = 0
        var rest = row
        for axis in stride(from: outShape.count - 2, through: 0, by: -1) {
          offset += (rest % outShape[axis]) * strides[axis]
          rest /= outShape[axis]
        }
        let target = o.value + row * inner
        for j in 0..<inner { target[j] = x.value[offset + j * innerStride] }
      }
    }
    var inverse = Array(repeating: 0, count: rank)
    for (i, axis) in axes.enumerated() { inverse[axis] = i }
    return Tensor.result(outShape, out, inputs: [self], name: "permute") { g in
      [try g.permuted(inverse)]
    }
  }

  /// The last two axes swapped (a matrix transpose for rank 2).
  public func transposed() throws -> Tensor {
    guard rank >= 2 else {
      throw TensorError.invalidShape(
        operation: "transpose", shape: shape, expected: "rank 2 or more")
    }
    var axes = Array(0..<rank)
    axes.swapAt(rank - 1, rank - 2)
    return try permuted(axes)
  }

  /// Elements `range` of `axis`, copied.
  public func slice(axis: Int, _ range: Range<Int>) throws -> Tensor {
    let axis = try normalizedAxis(axis, operation: "slice")
    guard range.lowerBound >= 0, range.upperBound <= shape[axis] else {
      throw TensorError.indexOutOfRange(
        operation: "slice", index: range.lowerBound < 0 ? range.lowerBound : range.upperBound,
        axis: axis, shape: shape)
    }
    return try gather(Array(range), axis: axis)
  }

  /// The entries of `axis` at `indices`, in that order (PyTorch's `index_select`);
  /// indices may repeat.
  ///
  /// - Throws: ``TensorError/indexOutOfRange(operation:index:axis:shape:)`` naming the
  ///   index and the shape.
  public func gather(_ indices: [Int], axis: Int) throws -> Tensor {
    let axis = try normalizedAxis(axis, operation: "gather")
    let (outer, n, inner) = split(around: axis)
    if let bad = indices.first(where: { $0 < 0 || $0 >= n }) {
      throw TensorError.indexOutOfRange(operation: "gather", index: bad, axis: axis, shape: shape)
    }
    var outShape = shape
    outShape[axis] = indices.count
    let m = indices.count
    let out = TensorStorage(uninitializedCount: outer * m * inner)
    let pointers = UnsafeSendable((out.pointer, storage.pointer))
    // Rows of 32 KiB or more per chunk: a batch of images copies on every thread.
    Compute.parallelRanges(outer * m, minimumChunk: Swift.max(1, 8192 / Swift.max(inner, 1))) {
      let (target, source) = pointers.value
      for row in $0 {
        let (block, j) = row.quotientAndRemainder(dividingBy: m)
        (target + row * inner).initialize(
          from: source + (block * n + indices[j]) * inner, count: inner)
      }
    }
    let inputShape = shape
    return Tensor.result(outShape, out, inputs: [self], name: "gather") { g in
      let gradient = Tensor.zerosUnchecked(inputShape)
      let (gi, go) = (g.storage.pointer, gradient.storage.pointer)
      for block in 0..<outer {
        for (j, index) in indices.enumerated() {
          let source = gi + (block * m + j) * inner
          let target = go + (block * n + index) * inner
          for i in 0..<inner { target[i] += source[i] }
        }
      }
      return [gradient]
    }
  }

  /// For a [b, k] tensor, element `indices[i]` of each row `i`: [b] (PyTorch's
  /// `gather(1, index)` with one index per row).
  ///
  /// - Throws: ``TensorError`` when the tensor is not rank 2, the index count differs from
  ///   the row count, or an index is out of range.
  public func takeAlongLastAxis(_ indices: [Int]) throws -> Tensor {
    guard rank == 2 else {
      throw TensorError.invalidShape(
        operation: "takeAlongLastAxis", shape: shape, expected: "rank 2 [rows, columns]")
    }
    let (rows, columns) = (shape[0], shape[1])
    guard indices.count == rows else {
      throw TensorError.shapeMismatch(
        operation: "takeAlongLastAxis", lhs: shape, rhs: [indices.count],
        expected: "one index per row")
    }
    if let bad = indices.first(where: { $0 < 0 || $0 >= columns }) {
      throw TensorError.indexOutOfRange(
        operation: "takeAlongLastAxis", index: bad, axis: 1, shape: shape)
    }
    let out = TensorStorage(uninitializedCount: rows)
    for (row, index) in indices.enumerated() {
      out.pointer[row] = storage.pointer[row * columns + index]
    }
    let inputShape = shape
    return Tensor.result([rows], out, inputs: [self], name: "takeAlongLastAxis") { g in
      let gradient = Tensor.zerosUnchecked(inputShape)
      for (row, index) in indices.enumerated() {
        gradient.storage.pointer[row * columns + index] = g.storage.pointer[row]
      }
      return [gradient]
    }
  }

  /// Joins tensors along an existing axis; all other sizes must agree.
  public static func concatenate(_ tensors: [Tensor], axis: Int) throws -> Tensor {
    guard let first = tensors.first else {
      throw TensorError.invalidArgument(operation: "concatenate", message: "no tensors given")
    }
    let axis = try first.normalizedAxis(axis, operation: "concatenate")
    for tensor in tensors.dropFirst() {
      var a = first.shape
      var b = tensor.shape
      guard a.count == b.count else {
        throw TensorError.shapeMismatch(
          operation: "concatenate", lhs: first.shape, rhs: tensor.shape, expected: "equal ranks")
      }
      a[axis] = 0
      b[axis] = 0
      guard a == b else {
        throw TensorError.shapeMismatch(
          operation: "concatenate", lhs: first.shape, rhs: tensor.shape,
          expected: "equal sizes except along axis \(axis)")
      }
    }
    let sizes = tensors.map { $0.shape[axis] }
    var outShape = first.shape
    outShape[axis] = sizes.reduce(0, +)
    let (outer, total, inner) = (
      first.shape[..<axis].reduce(1, *), outShape[axis], first.shape[(axis + 1)...].reduce(1, *)
    )
    let out = TensorStorage(uninitializedCount: outer * total * inner)
    var offset = 0
    for (tensor, size) in zip(tensors, sizes) {
      for block in 0..<outer {
        (out.pointer + (block * total + offset) * inner).initialize(
          from: tensor.storage.pointer + block * size * inner, count: size * inner)
      }
      offset += size
    }
    return result(outShape, out, inputs: tensors, name: "concatenate") { g in
      var start = 0
      return try zip(tensors, sizes).map { tensor, size in
        defer { start += size }
        return tensor.requiresGrad ? try g.slice(axis: axis, start..<start + size) : nil
      }
    }
  }

  /// Joins equally shaped tensors along a new axis.
  public static func stack(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
    guard let first = tensors.first else {
      throw TensorError.invalidArgument(operation: "stack", message: "no tensors given")
    }
    let axis = try first.normalizedAxis(axis, operation: "stack", extraRank: 1)
    for tensor in tensors where tensor.shape != first.shape {
      throw TensorError.shapeMismatch(
        operation: "stack", lhs: first.shape, rhs: tensor.shape, expected: "equal shapes")
    }
    var expanded = first.shape
    expanded.insert(1, at: axis)
    return try concatenate(tensors.map { try $0.reshaped(expanded) }, axis: axis)
  }
}
