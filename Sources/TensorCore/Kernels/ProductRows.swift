import CBLAS

/// Where a row of a matrix product sits in its sgemm call, as far as the row's bits are
/// concerned.
///
/// Under portable numerics (OpenBLAS's Haswell kernels) one call computes C = X·Wᵀ in
/// groups of 12 rows, the first and the second six of a group in two different ways, then
/// the rows after the call's last full group (its tail, 1 to 11 rows) four at a time in a
/// third way and the last one to three like the second six. Row i of C depends only on
/// row i of X, on W and on the row's class; the other rows' values do not matter
/// (`benchmarks/gemm-row-classes.c` shows it; ``BLAS/productRowsMatchCalls(n:k:callRows:)``
/// checks it at run time).
public enum ProductRowClass: Hashable, Sendable {
  /// One of the first six rows of a group of 12.
  case leading
  /// One of the second six rows of a group of 12, or of the last one to three rows of a
  /// call (those after its tail's whole fours).
  case trailing
  /// A row of a call's tail in whole fours.
  case quartet
}

extension BLAS {
  /// The rows of one group of the kernels' blocking.
  static let rowGroup = 12
  /// The most full groups in one call ``productRows(x:classes:weight:n:k:into:)`` makes.
  static let groupsPerCall = 5

  /// The rows of each sgemm call, in order, that
  /// ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` makes of C[m, n] =
  /// X[m, k]·W[n, k]ᵀ, or `nil` when its rows' classes are not known: native numerics, or
  /// a product split along its columns.
  public static func rowCalls(m: Int, n: Int, k: Int) -> [Int]? {
    guard numerics == .portable, m > 0 else { return nil }
    let (splitRows, blocks, step) = blocking(m: m, n: n, k: k)
    guard splitRows || blocks == 1 else { return nil }
    return blocks == 1 ? [m] : stride(from: 0, to: m, by: step).map { min(step, m - $0) }
  }

  /// The class of every row of calls of `calls` rows, one after another.
  public static func rowClasses(ofCalls calls: [Int]) -> [ProductRowClass] {
    calls.flatMap { rows in (0..<rows).map { rowClass($0, ofCallOf: rows) } }
  }

  /// The class of row `position` of one call of `rows` rows.
  static func rowClass(_ position: Int, ofCallOf rows: Int) -> ProductRowClass {
    let grouped = rows / rowGroup * rowGroup
    if position < grouped { return position % rowGroup < rowGroup / 2 ? .leading : .trailing }
    return position - grouped < (rows - grouped) / 4 * 4 ? .quartet : .trailing
  }

  /// Rows of C = X·Wᵀ computed apart from the batch they belong to: row i as a
  /// ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` call gives it at a
  /// row of class `classes[i]`.
  ///
  /// The rows are placed at rows of their classes in calls of their own (the other rows
  /// zero), run on the engine's threads.
  /// - Parameters:
  ///   - x: [classes.count, k].
  ///   - weight: [n, k].
  ///   - c: [classes.count, n].
  public static func productRows(
    x: UnsafePointer<Float>, classes: [ProductRowClass], weight: UnsafePointer<Float>, n: Int,
    k: Int, into c: UnsafeMutablePointer<Float>
  ) throws {
    let library = try loaded.get()
    let calls = callLayouts(classes)
    let pointers = UnsafeSendable((x, weight, c))
    Compute.parallelFor(calls.count) { index in
      let (x, weight, c) = pointers.value
      let layout = calls[index]
      let scratch = TensorStorage(uninitializedCount: layout.count * (k + n))
      let (input, output) = (scratch.pointer, scratch.pointer + layout.count * k)
      for (slot, row) in layout.enumerated() {
        if row >= 0 {
          (input + slot * k).initialize(from: x + row * k, count: k)
        } else {
          (input + slot * k).initialize(repeating: 0, count: k)
        }
      }
      library.sgemm(
        ES_CblasRowMajor, ES_CblasNoTrans, ES_CblasTrans, Int32(layout.count), Int32(n),
        Int32(k), 1, input, Int32(k), weight, Int32(k), 0, output, Int32(n))
      for (slot, row) in layout.enumerated() where row >= 0 {
        (c + row * n).update(from: output + slot * n, count: n)
      }
      withExtendedLifetime(scratch) {}
    }
  }

  /// The calls that place every row at a row of its class: for each call, the row of `x`
  /// at each of its rows, −1 for a row of zeros. A call has up to ``groupsPerCall`` groups
  /// of 12 and a tail of up to two fours.
  static func callLayouts(_ classes: [ProductRowClass]) -> [[Int]] {
    var waiting: [ProductRowClass: [Int]] = [:]
    for (row, rowClass) in classes.enumerated() { waiting[rowClass, default: []].append(row) }
    var (leading, trailing, quartets) = (
      waiting[.leading] ?? [], waiting[.trailing] ?? [], waiting[.quartet] ?? []
    )
    let half = rowGroup / 2
    var calls: [[Int]] = []
    while !leading.isEmpty || !trailing.isEmpty || !quartets.isEmpty {
      let groups = min(groupsPerCall, (max(leading.count, trailing.count) + half - 1) / half)
      let fours = min(2, (quartets.count + 3) / 4)
      var layout = [Int](repeating: -1, count: groups * rowGroup + fours * 4)
      for (offset, rows) in [
        (0, leading.prefix(groups * half)), (half, trailing.prefix(groups * half)),
      ] {
        for (index, row) in rows.enumerated() {
          layout[index / half * rowGroup + offset + index % half] = row
        }
      }
      for (index, row) in quartets.prefix(fours * 4).enumerated() {
        layout[groups * rowGroup + index] = row
      }
      leading.removeFirst(min(leading.count, groups * half))
      trailing.removeFirst(min(trailing.count, groups * half))
      quartets.removeFirst(min(quartets.count, fours * 4))
      calls.append(layout)
    }
    return calls
  }

  /// Whether ``productRows(x:classes:weight:n:k:into:)`` gives, for every row of a call of
  /// `callRows` rows, the bits that call gives it, on random values of a product of `n`
  /// outputs and `k` inputs: the run-time check of the classes' model before it is relied
  /// on. One call per class of the call's rows.
  public static func productRowsMatchCalls(n: Int, k: Int, callRows: Int) throws -> Bool {
    guard numerics == .portable, callRows > 0 else { return false }
    let library = try loaded.get()
    var generator = RandomGenerator(seed: 12)
    let weight = (0..<n * k).map { _ in generator.nextUniform() - 0.5 }
    let sample = (0..<k).map { _ in generator.nextUniform() - 0.5 }
    var lastOfClass: [ProductRowClass: Int] = [:]
    for position in 0..<callRows { lastOfClass[rowClass(position, ofCallOf: callRows)] = position }
    for (rowClass, position) in lastOfClass {
      var input = (0..<callRows * k).map { _ in generator.nextUniform() - 0.5 }
      input.replaceSubrange(position * k..<(position + 1) * k, with: sample)
      var output = [Float](repeating: 0, count: callRows * n)
      library.sgemm(
        ES_CblasRowMajor, ES_CblasNoTrans, ES_CblasTrans, Int32(callRows), Int32(n), Int32(k),
        1, input, Int32(k), weight, Int32(k), 0, &output, Int32(n))
      var apart = [Float](repeating: 0, count: n)
      try productRows(x: sample, classes: [rowClass], weight: weight, n: n, k: k, into: &apart)
      let inCall = output[position * n..<(position + 1) * n]
      guard zip(inCall, apart).allSatisfy({ $0.bitPattern == $1.bitPattern }) else {
        return false
      }
    }
    return true
  }
}
