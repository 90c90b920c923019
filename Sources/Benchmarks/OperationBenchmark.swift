import Foundation
import TensorCore

/// Forward+backward throughput of the paper's layer shapes next to plain sgemm on the same
/// machine, in the same run (`expertstream bench ops`).
///
/// Rates are in GFLOP/s; FLOPs count the GEMMs only (2·m·n·k each), so element-wise work
/// makes an operation's rate lower than its GEMMs'.
public struct OperationBenchmark {
  /// The batch size of the layer shapes.
  public let batch: Int
  /// Times every operation.
  public let timer: Stopwatch

  /// A benchmark at `batch`, timed by `timer`.
  public init(batch: Int, timer: Stopwatch) {
    self.batch = batch
    self.timer = timer
  }

  /// Measures the paper's operations, in order: three linear layers (784→128, 169→64,
  /// 64→32), a 3×3 convolution and the L_s distance GEMM.
  public func rows() throws -> [Row] {
    var generator = RandomGenerator(seed: 1)
    return [
      try linearRow(inputs: 784, outputs: 128, generator: &generator),
      try linearRow(inputs: 169, outputs: 64, generator: &generator),
      try linearRow(inputs: 64, outputs: 32, generator: &generator),
      try convolutionRow(generator: &generator),
      try distanceRow(generator: &generator),
    ]
  }

  /// `rows` as a table (with a header): MFLOP, ms, GFLOP/s, the sgemm rate and the shares
  /// of it and of `peak`, the engine's sgemm 1024³ rate.
  public static func table(_ rows: [Row], peak: Double) -> [[String]] {
    let header = [
      "op (forward+backward)", "MFLOP", "ms", "GFLOP/s", "sgemm GFLOP/s", "of sgemm",
      "of 1024³ peak",
    ]
    return [header]
      + rows.map { row in
        [
          row.name, String(format: "%.1f", row.flops / 1e6),
          String(format: "%.3f", row.seconds * 1e3),
          String(format: "%.1f", row.rate), String(format: "%.1f", row.sgemmRate),
          String(format: "%.0f%%", 100 * row.rate / row.sgemmRate),
          String(format: "%.0f%%", 100 * row.rate / peak),
        ]
      }
  }

  // MARK: - Cases

  /// One measured operation: forward+backward against plain sgemm of its GEMM shapes.
  public struct Row: Sendable {
    /// The operation and its shape.
    public let name: String
    /// Floating-point operations of one forward+backward.
    public let flops: Double
    /// Median seconds of one forward+backward.
    public let seconds: Double
    /// GFLOP/s of the same GEMM shapes as plain blocked sgemm calls.
    public let sgemmRate: Double
    /// GFLOP/s of the operation.
    public var rate: Double { flops / seconds / 1e9 }
  }

  /// sgemm 1024³ in GFLOP/s: one call with OpenBLAS's own `threads` threads, and as the
  /// engine's fixed blocks.
  ///
  /// OpenBLAS is left single-threaded afterwards, as the engine runs it.
  public static func measurePeak(threads: Int, _ timer: Stopwatch) throws
    -> (library: Double, engine: Double)
  {
    let n = 1024
    var generator = RandomGenerator(seed: 2)
    let a = try Tensor.uniform([n, n], using: &generator)
    let b = try Tensor.uniform([n, n], using: &generator)
    let c = try Tensor.zeros([n, n])
    let flops = 2 * Double(n * n * n)
    try BLAS.setLibraryThreads(threads)
    defer { try? BLAS.setLibraryThreads(1) }
    let library = try timer.seconds {
      try BLAS.sgemmSingleCall(
        transposeA: false, transposeB: false, m: n, n: n, k: n, alpha: 1, a: a.storage.pointer,
        lda: n, b: b.storage.pointer, ldb: n, beta: 0, c: c.storage.pointer, ldc: n)
    }
    try BLAS.setLibraryThreads(1)
    let engine = try timer.seconds {
      try BLAS.gemm(
        transposeA: false, transposeB: false, m: n, n: n, k: n, a: a.storage.pointer, lda: n,
        b: b.storage.pointer, ldb: n, c: c.storage.pointer, ldc: n)
    }
    return (flops / library / 1e9, flops / engine / 1e9)
  }

  /// y = x·Wᵀ + b and its backward (dx, dW, db), against the three GEMMs alone.
  private func linearRow(inputs: Int, outputs: Int, generator: inout RandomGenerator) throws
    -> Row
  {
    let x = try Tensor.uniform(
      [batch, inputs], low: -1, high: 1, using: &generator, requiresGrad: true)
    let weight = try Tensor.uniform(
      [outputs, inputs], low: -0.1, high: 0.1, using: &generator, requiresGrad: true)
    let bias = try Tensor.zeros([outputs], requiresGrad: true)
    let seed = try Tensor.uniform([batch, outputs], using: &generator)
    let seconds = try timer.seconds {
      let y = try x.matmul(weight, transposeOther: true) + bias
      try y.backward(seed)
      x.grad = nil
      weight.grad = nil
      bias.grad = nil
    }
    let shapes = [
      GEMMShape(m: batch, n: outputs, k: inputs, transposeA: false, transposeB: true),
      GEMMShape(m: batch, n: inputs, k: outputs, transposeA: false, transposeB: false),
      GEMMShape(m: outputs, n: inputs, k: batch, transposeA: true, transposeB: false),
    ]
    return Row(
      name: "linear \(inputs)→\(outputs), batch \(batch)",
      flops: 6 * Double(batch * inputs * outputs),
      seconds: seconds, sgemmRate: try sgemmRate(shapes))
  }

  /// conv 3×3, 1→8 channels on 28×28, and its backward, against the im2col GEMMs.
  private func convolutionRow(generator: inout RandomGenerator) throws -> Row {
    let (channels, size, kernel) = (8, 28, 3)
    let output = size - kernel + 1
    let x = try Tensor.uniform([batch, 1, size, size], using: &generator, requiresGrad: true)
    let weight = try Tensor.uniform(
      [channels, 1, kernel, kernel], low: -0.3, high: 0.3, using: &generator, requiresGrad: true)
    let bias = try Tensor.zeros([channels], requiresGrad: true)
    let seed = try Tensor.uniform([batch, channels, output, output], using: &generator)
    let seconds = try timer.seconds {
      let y = try x.conv2d(weight: weight, bias: bias)
      try y.backward(seed)
      x.grad = nil
      weight.grad = nil
      bias.grad = nil
    }
    let pixels = batch * output * output
    let patch = kernel * kernel
    let shapes = [
      GEMMShape(m: pixels, n: channels, k: patch, transposeA: false, transposeB: true),
      GEMMShape(m: channels, n: patch, k: pixels, transposeA: true, transposeB: false),
      GEMMShape(m: pixels, n: patch, k: channels, transposeA: false, transposeB: false),
    ]
    return Row(
      name: "conv2d 3×3 1→\(channels) on \(size)×\(size), batch \(batch)",
      flops: 6 * Double(pixels * channels * patch), seconds: seconds,
      sgemmRate: try sgemmRate(shapes))
  }

  /// The L_s distance GEMM X·Xᵀ over flattened 28×28 inputs, and its backward.
  private func distanceRow(generator: inout RandomGenerator) throws -> Row {
    let features = 784
    let x = try Tensor.uniform([batch, features], using: &generator, requiresGrad: true)
    let seed = try Tensor.uniform([batch, batch], using: &generator)
    let seconds = try timer.seconds {
      let gram = try x.matmul(x, transposeOther: true)
      try gram.backward(seed)
      x.grad = nil
    }
    let shapes = [
      GEMMShape(m: batch, n: batch, k: features, transposeA: false, transposeB: true),
      GEMMShape(m: batch, n: features, k: batch, transposeA: false, transposeB: false),
      GEMMShape(m: batch, n: features, k: batch, transposeA: true, transposeB: false),
    ]
    return Row(
      name: "distance GEMM \(batch)×\(batch)×\(features)",
      flops: 6 * Double(batch * batch * features),
      seconds: seconds, sgemmRate: try sgemmRate(shapes))
  }

  private struct GEMMShape {
    let m: Int, n: Int, k: Int
    let transposeA: Bool, transposeB: Bool
  }

  /// The GFLOP/s of running `shapes` back to back as the engine's blocked sgemm.
  private func sgemmRate(_ shapes: [GEMMShape]) throws -> Double {
    let buffers = shapes.map { shape in
      (
        TensorStorage.filled(count: shape.m * shape.k, value: 0.5),
        TensorStorage.filled(count: shape.k * shape.n, value: 0.25),
        TensorStorage.filled(count: shape.m * shape.n, value: 0)
      )
    }
    let seconds = try timer.seconds {
      for (shape, (a, b, c)) in zip(shapes, buffers) {
        try BLAS.gemm(
          transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n,
          k: shape.k, a: a.pointer, lda: shape.transposeA ? shape.m : shape.k, b: b.pointer,
          ldb: shape.transposeB ? shape.k : shape.n, c: c.pointer, ldc: shape.n)
      }
    }
    let flops = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.n * $1.k) }
    return flops / seconds / 1e9
  }
}
