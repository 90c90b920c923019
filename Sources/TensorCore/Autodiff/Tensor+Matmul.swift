extension Tensor {
  /// The matrix product op(self) · op(other) of two rank-2 tensors, by `cblas_sgemm`.
  ///
  /// - Parameters:
  ///   - transposeSelf: Use selfᵀ (self stored [k, m]).
  ///   - transposeOther: Use otherᵀ (other stored [n, k]), as a linear layer's `[out, in]`
  ///     weight is used.
  /// - Returns: [m, n].
  /// - Throws: ``TensorError`` naming both shapes when the inner sizes differ or an operand
  ///   is not rank 2.
  public func matmul(
    _ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false
  ) throws -> Tensor {
    guard rank == 2, other.rank == 2 else {
      throw TensorError.shapeMismatch(
        operation: "matmul", lhs: shape, rhs: other.shape, expected: "two rank-2 tensors")
    }
    let (m, k) = transposeSelf ? (shape[1], shape[0]) : (shape[0], shape[1])
    let (otherK, n) =
      transposeOther ? (other.shape[1], other.shape[0]) : (other.shape[0], other.shape[1])
    guard k == otherK else {
      throw TensorError.shapeMismatch(
        operation: "matmul", lhs: shape, rhs: other.shape,
        expected: "inner sizes equal after transposes (\(k) vs \(otherK))")
    }
    let out = TensorStorage(uninitializedCount: m * n)
    try Tensor.gemm(
      self, transposeSelf, other, transposeOther, into: out.pointer, m: m, n: n, k: k)
    let a = self
    let b = other
    return Tensor.result([m, n], out, inputs: [a, b], name: "matmul") { g in
      var gradA: Tensor?
      var gradB: Tensor?
      if a.requiresGrad {
        gradA = try Tensor.make(a.shape) { pointer in
          if transposeSelf {
            try Tensor.gemm(b, transposeOther, g, true, into: pointer, m: k, n: m, k: n)
          } else {
            try Tensor.gemm(g, false, b, !transposeOther, into: pointer, m: m, n: k, k: n)
          }
        }
      }
      if b.requiresGrad {
        gradB = try Tensor.make(b.shape) { pointer in
          if transposeOther {
            try Tensor.gemm(g, true, a, transposeSelf, into: pointer, m: n, n: k, k: m)
          } else {
            try Tensor.gemm(a, !transposeSelf, g, false, into: pointer, m: k, n: n, k: m)
          }
        }
      }
      return [gradA, gradB]
    }
  }

  /// C[m, n] = op(a) · op(b) for contiguous rank-2 operands.
  static func gemm(
    _ a: Tensor, _ transposeA: Bool, _ b: Tensor, _ transposeB: Bool,
    into c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, accumulate: Bool = false
  ) throws {
    if m == 0 || n == 0 { return }
    if k == 0 {
      if !accumulate { c.initialize(repeating: 0, count: m * n) }
      return
    }
    try BLAS.gemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
      a: a.storage.pointer, lda: a.shape[1], b: b.storage.pointer, ldb: b.shape[1],
      beta: accumulate ? 1 : 0, c: c, ldc: n)
  }
}
