extension Tensor {
  /// a·tr(Xᵀ·A·X) + b·rᵀ·A·r for X = self [n, k], A = `matrix` [n, n] and r = X·1 the row
  /// sums of X: a scalar, as one op.
  ///
  /// Σᵢⱼ (X·Xᵀ)ᵢⱼ·Aᵢⱼ = tr(Xᵀ·A·X) and Σᵢⱼ rᵢ·rⱼ·Aᵢⱼ = rᵀ·A·r, so this is the weighted sum
  /// over an n × n matrix that the sample-similarity regularizer needs, computed from one
  /// [n, n]·[n, k] GEMM instead of n × n intermediate tensors. The gradient with respect to X
  /// is a·P + b·(P·1)·1ᵀ with P = (A + Aᵀ)·X; with respect to A it is a·X·Xᵀ + b·r·rᵀ.
  /// - Parameters:
  ///   - matrix: A, [n, n].
  ///   - traceWeight: a.
  ///   - rowSumWeight: b.
  /// - Throws: ``TensorError`` naming both shapes unless self is [n, k] and `matrix` [n, n].
  public func quadraticForm(_ matrix: Tensor, traceWeight: Float, rowSumWeight: Float) throws
    -> Tensor
  {
    guard rank == 2, matrix.shape == [shape[0], shape[0]] else {
      throw TensorError.shapeMismatch(
        operation: "quadraticForm", lhs: shape, rhs: matrix.shape,
        expected: "X [n, k] and A [n, n]")
    }
    let (n, k) = (shape[0], shape[1])
    let x = self
    // M = A·X; tr(Xᵀ·A·X) = Σ X ⊙ M and rᵀ·A·r = Σᵢ rᵢ·(M·1)ᵢ.
    let product = TensorStorage(uninitializedCount: n * k)
    try Tensor.gemm(matrix, false, x, false, into: product.pointer, m: n, n: k, k: n)
    var trace = 0.0
    var rowSumForm = 0.0
    for i in 0..<n {
      var rowSum = 0.0
      var productRowSum = 0.0
      for j in 0..<k {
        let (xValue, mValue) = (
          Double(x.storage.pointer[i * k + j]), Double(product.pointer[i * k + j])
        )
        trace += xValue * mValue
        rowSum += xValue
        productRowSum += mValue
      }
      rowSumForm += rowSum * productRowSum
    }
    let value = Float(Double(traceWeight) * trace + Double(rowSumWeight) * rowSumForm)
    let out = TensorStorage(count: 1, repeating: value)
    return Tensor.result([], out, inputs: [x, matrix], name: "quadraticForm") { gradient in
      let upstream = gradient.storage.pointer[0]
      var gradX: Tensor?
      var gradA: Tensor?
      if x.requiresGrad {
        gradX = try Tensor.make([n, k]) { target in
          // P = A·X + Aᵀ·X, then a·P + b·(P·1)·1ᵀ, scaled by the upstream gradient.
          target.update(from: product.pointer, count: n * k)
          try Tensor.gemm(matrix, true, x, false, into: target, m: n, n: k, k: n, accumulate: true)
          for i in 0..<n {
            let row = target + i * k
            var sum: Float = 0
            for j in 0..<k { sum += row[j] }
            let shift = rowSumWeight * sum
            for j in 0..<k { row[j] = upstream * (traceWeight * row[j] + shift) }
          }
        }
      }
      if matrix.requiresGrad {
        gradA = try Tensor.make([n, n]) { target in
          try Tensor.gemm(x, false, x, true, into: target, m: n, n: n, k: k)
          var rowSums = [Float](repeating: 0, count: n)
          for i in 0..<n {
            for j in 0..<k { rowSums[i] += x.storage.pointer[i * k + j] }
          }
          for i in 0..<n {
            for j in 0..<n {
              target[i * n + j] =
                upstream
                * (traceWeight * target[i * n + j] + rowSumWeight * rowSums[i] * rowSums[j])
            }
          }
        }
      }
      return [gradX, gradA]
    }
  }
}
