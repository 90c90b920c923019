extension Tensor {
  /// The Euclidean distances between the rows of a [n, f] tensor, [n, n], as
  /// ‖xᵢ − xⱼ‖² = ‖xᵢ‖² + ‖xⱼ‖² − 2·xᵢ·xⱼ from the Gram matrix.
  ///
  /// Only the lower triangle of the Gram matrix is computed (half a GEMM's work, in row
  /// blocks of equal work run on the engine's threads) and mirrored, so the result is
  /// exactly symmetric. The diagonal is exactly 0 and rounding below 0 is clamped. Blocks
  /// depend on the shape only, so results are bit-identical at any thread count. Records
  /// no gradient.
  /// - Throws: ``TensorError`` unless the tensor is rank 2.
  public func pairwiseDistances() throws -> Tensor {
    guard rank == 2 else {
      throw TensorError.invalidShape(
        operation: "pairwiseDistances", shape: shape, expected: "rank 2 [n, f]")
    }
    let (n, features) = (shape[0], shape[1])
    let gram = TensorStorage(count: n * n, repeating: 0)
    if features > 0 && n > 0 {
      let blocks = Swift.min(Tensor.distanceBlocks, n)
      // Rows [start_b, end_b) need columns [0, end_b): equal areas under the triangle.
      let bounds = (0...blocks).map {
        Int((Double(n) * (Double($0) / Double(blocks)).squareRoot()).rounded())
      }
      try BLAS.ensureLoaded()
      let pointers = UnsafeSendable((storage.pointer, gram.pointer))
      Compute.parallelFor(blocks) { block in
        let (x, g) = pointers.value
        let (start, end) = (bounds[block], bounds[block + 1])
        guard end > start else { return }
        // Cannot throw: the library was loaded above.
        try? BLAS.sgemmSingleCall(
          transposeA: false, transposeB: true, m: end - start, n: end, k: features, alpha: 1,
          a: x + start * features, lda: features, b: x, ldb: features, beta: 0,
          c: g + start * n, ldc: n)
      }
    }
    let g = gram.pointer
    var squaredNorms = [Float](repeating: 0, count: n)
    for i in 0..<n { squaredNorms[i] = g[i * n + i] }
    for i in 0..<n {
      let row = g + i * n
      let norm = squaredNorms[i]
      for j in 0..<i {
        row[j] = Swift.max(0, norm + squaredNorms[j] - 2 * row[j]).squareRoot()
      }
      row[i] = 0
    }
    for i in 0..<n {
      for j in (i + 1)..<n { g[i * n + j] = g[j * n + i] }
    }
    return Tensor(shape: [n, n], storage: gram)
  }

  /// Row blocks of ``pairwiseDistances()``'s Gram matrix.
  static let distanceBlocks = 4
}
