import Testing
import _TestSupport

@testable import TensorCore

/// Products of the shapes a continual run's frozen experts compute (a convolutional
/// expert's first layer on training batches of 256, 224, 128 and 104 rows, and a small
/// layer), as `BLAS.gemm` splits them.
private let productShapes: [(m: Int, n: Int, k: Int)] = [
  (256, 64, 2704), (224, 64, 2704), (128, 64, 2704), (104, 64, 2704), (37, 32, 64),
]

@Test(arguments: productShapes.indices)
func rowsComputedApartHaveTheBitsOfTheirPlaceInTheProduct(shape: Int) throws {
  let (m, n, k) = productShapes[shape]
  let x = try randomTensor([m, k], seed: 20 + UInt64(shape))
  let weight = try randomTensor([n, k], seed: 40 + UInt64(shape))
  let product = try x.matmul(weight, transposeOther: true).values
  guard BLAS.numerics == .portable else {
    #expect(BLAS.rowCalls(m: m, n: n, k: k) == nil)
    return
  }
  let calls = try #require(BLAS.rowCalls(m: m, n: n, k: k))
  #expect(calls.reduce(0, +) == m)
  let classes = BLAS.rowClasses(ofCalls: calls)
  // Every third row and the last, computed together apart from the others.
  let rows = Array(stride(from: 0, to: m, by: 3)) + [m - 1]
  let values = x.values
  let picked = rows.flatMap { values[$0 * k..<($0 + 1) * k] }
  var apart = [Float](repeating: .nan, count: rows.count * n)
  try BLAS.productRows(
    x: picked, classes: rows.map { classes[$0] }, weight: weight.values, n: n, k: k,
    into: &apart)
  for (position, row) in rows.enumerated() {
    let inProduct = product[row * n..<(row + 1) * n].map(\.bitPattern)
    let computedApart = apart[position * n..<(position + 1) * n].map(\.bitPattern)
    #expect(inProduct == computedApart, "row \(row) of \(m), class \(classes[row])")
  }
}

@Test func aCallsRowsFallIntoThreeClassesByPlace() throws {
  let (leading, trailing, quartet) = (
    ProductRowClass.leading, ProductRowClass.trailing, ProductRowClass.quartet
  )
  let group = Array(repeating: leading, count: 6) + Array(repeating: trailing, count: 6)
  // 64 rows: five groups of 12, then a tail of one four.
  #expect(
    BLAS.rowClasses(ofCalls: [64])
      == Array([[ProductRowClass]](repeating: group, count: 5).joined())
      + Array(repeating: quartet, count: 4))
  // 35 rows: two groups, then a tail of two fours and three more.
  #expect(
    BLAS.rowClasses(ofCalls: [35])
      == group + group + Array(repeating: quartet, count: 8)
      + Array(repeating: trailing, count: 3))
  #expect(
    BLAS.rowClasses(ofCalls: [3, 5]) == [trailing, trailing, trailing] + [
      quartet, quartet, quartet, quartet, trailing,
    ])
  // The model holds for the call sizes a batch of 256, 224, 128 or 104 gives the first
  // layer of a convolutional expert (under portable numerics, the tests' default).
  for rows in [64, 56, 32, 35, 34] {
    #expect(
      try BLAS.productRowsMatchCalls(n: 64, k: 2704, callRows: rows) == (BLAS.numerics == .portable)
    )
  }
}

@Test func callLayoutsPlaceEveryRowOnceAtARowOfItsClass() {
  var generator = RandomGenerator(seed: 3)
  let all: [ProductRowClass] = [.leading, .trailing, .quartet]
  let classes = (0..<150).map { _ in all[Int(generator.next() % 3)] }
  let calls = BLAS.callLayouts(classes)
  var placed: [Int] = []
  for layout in calls {
    #expect(layout.count <= BLAS.groupsPerCall * BLAS.rowGroup + 8)
    for (slot, row) in layout.enumerated() where row >= 0 {
      #expect(BLAS.rowClass(slot, ofCallOf: layout.count) == classes[row])
      placed.append(row)
    }
  }
  #expect(placed.sorted() == Array(classes.indices))
}
