#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// MARK: - Axis arithmetic

extension Tensor {
  /// Resolves a possibly negative axis.
  func normalizedAxis(_ axis: Int, operation: String, extraRank: Int = 0) throws -> Int {
    let bound = rank + extraRank
    let resolved = axis < 0 ? axis + bound : axis
    guard resolved >= 0, resolved < bound else {
      throw TensorError.invalidArgument(
        operation: operation, message: "axis \(axis) is out of range for shape \(shape)")
    }
    return resolved
  }

  /// The tensor seen as [outer, n, inner] around `axis`.
  func split(around axis: Int) -> (outer: Int, n: Int, inner: Int) {
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    return (outer, shape[axis], inner)
  }
}

// MARK: - Sum, mean, max

extension Tensor {
  /// The sum over one axis.
  ///
  /// - Returns: The shape without `axis`, or with it set to 1 when `keepingDimension`.
  public func sum(axis: Int, keepingDimension: Bool = false) throws -> Tensor {
    let axis = try normalizedAxis(axis, operation: "sum")
    let (outer, n, inner) = split(around: axis)
    var outShape = shape
    if keepingDimension { outShape[axis] = 1 } else { outShape.remove(at: axis) }
    let out = TensorStorage(count: outer * inner, repeating: 0)
    let (x, o) = (UnsafeSendable(storage.pointer), UnsafeSendable(out.pointer))
    Compute.parallelRanges(outer, minimumChunk: Swift.max(1, 32_768 / Swift.max(n * inner, 1))) {
      range in
      for block in range {
        let source = x.value + block * n * inner
        let target = o.value + block * inner
        if inner == 1 {
          var total: Double = 0
          for j in 0..<n { total += Double(source[j]) }
          target[0] = Float(total)
        } else {
          for j in 0..<n {
            let row = source + j * inner
            for i in 0..<inner { target[i] += row[i] }
          }
        }
      }
    }
    let inputShape = shape
    let keptShape = shape.enumerated().map { $0.offset == axis ? 1 : $0.element }
    return Tensor.result(outShape, out, inputs: [self], name: "sum") { g in
      let expanded = try g.reshaped(keptShape)
      return [try expanded.broadcast(to: inputShape)]
    }
  }

  /// The sum over several axes (all of them when `axes` is `nil`).
  public func sum(axes: [Int]? = nil, keepingDimensions: Bool = false) throws -> Tensor {
    let resolved = try (axes ?? Array(0..<rank)).map {
      try normalizedAxis($0, operation: "sum")
    }
    var result = self
    for axis in Set(resolved).sorted(by: >) {
      result = try result.sum(axis: axis, keepingDimension: keepingDimensions)
    }
    if axes == nil && !keepingDimensions && rank > 0 { return try result.reshaped([]) }
    return result
  }

  /// The mean over several axes (all of them when `axes` is `nil`).
  public func mean(axes: [Int]? = nil, keepingDimensions: Bool = false) throws -> Tensor {
    let resolved = try (axes ?? Array(0..<rank)).map {
      try normalizedAxis($0, operation: "mean")
    }
    let n = Set(resolved).reduce(1) { $0 * shape[$1] }
    return try sum(axes: axes, keepingDimensions: keepingDimensions) * (1 / Float(Swift.max(n, 1)))
  }

  /// The maximum over one axis; the gradient flows to the first maximal element.
  ///
  /// - Throws: ``TensorError/invalidShape(operation:shape:expected:)`` if the axis is
  ///   empty.
  public func max(axis: Int, keepingDimension: Bool = false) throws -> Tensor {
    let axis = try normalizedAxis(axis, operation: "max")
    let (outer, n, inner) = split(around: axis)
    guard n > 0 else {
      throw TensorError.invalidShape(
        operation: "max", shape: shape, expected: "axis \(axis) must not be empty")
    }
    var outShape = shape
    if keepingDimension { outShape[axis] = 1 } else { outShape.remove(at: axis) }
    let out = TensorStorage(uninitializedCount: outer * inner)
    var winners = [Int32](repeating: 0, count: outer * inner)
    let x = storage.pointer
    winners.withUnsafeMutableBufferPointer { winner in
      for block in 0..<outer {
        for i in 0..<inner {
          var best = x[block * n * inner + i]
          var bestIndex: Int32 = 0
          for j in 1..<n {
            let value = x[(block * n + j) * inner + i]
            if value > best || (best.isNaN && !value.isNaN) {
              best = value
              bestIndex = Int32(j)
            }
          }
          out.pointer[block * inner + i] = best
          winner[block * inner + i] = bestIndex
        }
      }
    }
    let inputShape = shape
    return Tensor.result(outShape, out, inputs: [self], name: "max") { g in
      let gradient = Tensor.zerosUnchecked(inputShape)
      for block in 0..<outer {
        for i in 0..<inner {
          let j = Int(winners[block * inner + i])
          gradient.storage.pointer[(block * n + j) * inner + i] =
            g.storage.pointer[block * inner + i]
        }
      }
      return [gradient]
    }
  }

  /// Broadcasts to a larger shape by copying along axes of size 1.
  public func broadcast(to target: [Int]) throws -> Tensor {
    let resolved = try Tensor.broadcastShape(shape, target, operation: "broadcast")
    guard resolved == target else {
      throw TensorError.shapeMismatch(
        operation: "broadcast", lhs: shape, rhs: target,
        expected: "the target must contain the shape")
    }
    if shape == target { return self }
    let zero = Tensor.zerosUnchecked([])
    let storage = Tensor.broadcastKernel(self, zero, shape: target, Add())
    let inputShape = shape
    return Tensor.result(target, storage, inputs: [self], name: "broadcast") { g in
      [try g.reduced(toShape: inputShape)]
    }
  }
}

// MARK: - Softmax

extension Tensor {
  /// Numerically stable softmax along `axis` (max subtracted before exponentiating).
  public func softmax(axis: Int = -1) throws -> Tensor {
    try softmaxFamily(axis: axis, logarithmic: false)
  }

  /// Numerically stable log-softmax along `axis`: x − max − log Σ exp(x − max).
  public func logSoftmax(axis: Int = -1) throws -> Tensor {
    try softmaxFamily(axis: axis, logarithmic: true)
  }

  private func softmaxFamily(axis: Int, logarithmic: Bool) throws -> Tensor {
    let name = logarithmic ? "logSoftmax" : "softmax"
    let axis = try normalizedAxis(axis, operation: name)
    let (outer, n, inner) = split(around: axis)
    let out = TensorStorage(uninitializedCount: count)
    let (x, o) = (UnsafeSendable(storage.pointer), UnsafeSendable(out.pointer))
    Compute.parallelRanges(outer, minimumChunk: Swift.max(1, 16_384 / Swift.max(n * inner, 1))) {
      range in
      for block in range {
        for i in 0..<inner {
          let base = block * n * inner + i
          var top = -Float.infinity
          for j in 0..<n { top = Swift.max(top, x.value[base + j * inner]) }
          var total: Float = 0
          for j in 0..<n {
            let e = expf(x.value[base + j * inner] - top)
            o.value[base + j * inner] = e
            total += e
          }
          if logarithmic {
            let shift = top + logf(total)
            for j in 0..<n { o.value[base + j * inner] = x.value[base + j * inner] - shift }
          } else {
            let scale = 1 / total
            for j in 0..<n { o.value[base + j * inner] *= scale }
          }
        }
      }
    }
    let output = Tensor(shape: shape, storage: out)
    return Tensor.result(shape, out, inputs: [self], name: name) { g in
      let gradient = TensorStorage(uninitializedCount: output.count)
      let (y, gi, go) = (
        UnsafeSendable(output.storage.pointer), UnsafeSendable(g.storage.pointer),
        UnsafeSendable(gradient.pointer)
      )
      Compute.parallelRanges(outer, minimumChunk: Swift.max(1, 16_384 / Swift.max(n * inner, 1))) {
        range in
        for block in range {
          for i in 0..<inner {
            let base = block * n * inner + i
            var total: Float = 0
            if logarithmic {
              for j in 0..<n { total += gi.value[base + j * inner] }
              for j in 0..<n {
                let k = base + j * inner
                go.value[k] = gi.value[k] - expf(y.value[k]) * total
              }
            } else {
              for j in 0..<n { total += gi.value[base + j * inner] * y.value[base + j * inner] }
              for j in 0..<n {
                let k = base + j * inner
                go.value[k] = y.value[k] * (gi.value[k] - total)
              }
            }
          }
        }
      }
      return [Tensor(shape: output.shape, storage: gradient)]
    }
  }
}
