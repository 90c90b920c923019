import TensorCore
import Testing
import _TestSupport

/// The product by a direct triple loop, in Double, for row-major [m, k] · [k, n].
private func naiveProduct(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
  var out = [Float](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var total = 0.0
      for p in 0..<k { total += Double(a[i * k + p]) * Double(b[p * n + j]) }
      out[i * n + j] = Float(total)
    }
  }
  return out
}

@Test func matmulMatchesTripleLoopForEveryTransposeCombination() throws {
  let (m, k, n) = (7, 5, 3)
  let a = try randomTensor([m, k], seed: 1)
  let b = try randomTensor([k, n], seed: 2)
  let expected = naiveProduct(a.values, b.values, m: m, k: k, n: n)
  let aT = try a.transposed().copy()
  let bT = try b.transposed().copy()
  #expect(allClose(try a.matmul(b).values, expected, relative: 1e-5, absolute: 1e-5))
  #expect(
    allClose(try aT.matmul(b, transposeSelf: true).values, expected, relative: 1e-5, absolute: 1e-5)
  )
  #expect(
    allClose(
      try a.matmul(bT, transposeOther: true).values, expected, relative: 1e-5, absolute: 1e-5))
  #expect(
    allClose(
      try aT.matmul(bT, transposeSelf: true, transposeOther: true).values, expected,
      relative: 1e-5, absolute: 1e-5))
}

@Test func matmulRejectsMismatchedInnerSizesNamingBothShapes() throws {
  let a = try Tensor.zeros([2, 3])
  let b = try Tensor.zeros([4, 5])
  do {
    _ = try a.matmul(b)
    Issue.record("expected a shape mismatch")
  } catch let error as TensorError {
    let message = String(describing: error)
    #expect(message.contains("[2, 3]") && message.contains("[4, 5]"), "\(message)")
  }
}

@Test func matmulGradientMatchesFiniteDifferences() throws {
  let a = try randomTensor([4, 3], seed: 3)
  let b = try randomTensor([5, 3], seed: 4)
  let result = try gradientCheck([a, b]) { inputs in
    try inputs[0].matmul(inputs[1], transposeOther: true)
  }
  #expect(result.worstError < 1e-2, "\(result)")
}

@Test func largeMatmulIsBitIdenticalAtOneAndTwoThreads() throws {
  // Large enough that BLAS.gemm splits the product into blocks.
  let a = try randomTensor([512, 784], seed: 5)
  let b = try randomTensor([128, 784], seed: 6)
  let saved = Compute.threads
  defer { Compute.threads = saved }
  Compute.threads = 1
  let single = try a.matmul(b, transposeOther: true).values
  Compute.threads = 2
  let double = try a.matmul(b, transposeOther: true).values
  #expect(single == double)
}

@Test(arguments: [1, 3, 9, 130])
func pairwiseDistancesMatchADirectLoop(rows: Int) throws {
  let features = 6
  let x = try randomTensor([rows, features], seed: UInt64(rows))
  let values = x.values
  let distances = try x.pairwiseDistances()
  #expect(distances.shape == [rows, rows])
  var expected = [Float](repeating: 0, count: rows * rows)
  for i in 0..<rows {
    for j in 0..<rows {
      var total = 0.0
      for f in 0..<features {
        let difference = Double(values[i * features + f]) - Double(values[j * features + f])
        total += difference * difference
      }
      expected[i * rows + j] = Float(total.squareRoot())
    }
  }
  let result = distances.values
  #expect(allClose(result, expected, relative: 1e-4, absolute: 1e-3))
  #expect((0..<rows).allSatisfy { i in result[i * rows + i] == 0 })
  #expect(
    (0..<rows).allSatisfy { i in
      (0..<rows).allSatisfy { result[i * rows + $0] == result[$0 * rows + i] }
    })
}

@Test func pairwiseDistancesAreBitIdenticalAtOneAndTwoThreads() throws {
  let x = try randomTensor([512, 784], seed: 8)
  let saved = Compute.threads
  defer { Compute.threads = saved }
  Compute.threads = 1
  let single = try x.pairwiseDistances().values
  Compute.threads = 2
  let double = try x.pairwiseDistances().values
  #expect(single == double)
}

@Test func pairwiseDistancesRejectOtherRanks() throws {
  #expect(throws: TensorError.self) { try Tensor.zeros([2, 3, 4]).pairwiseDistances() }
}
