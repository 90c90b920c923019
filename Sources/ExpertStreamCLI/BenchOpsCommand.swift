import Benchmarks
import Continual
import Foundation
import TensorCore

/// `expertstream bench ops`: forward+backward throughput of the paper's layer shapes next
/// to plain sgemm on the same machine, in the same run.
struct BenchOpsCommand: Command {
  static let configuration = CommandConfiguration(
    name: "bench ops",
    summary: "Measure forward+backward GFLOP/s of the paper's layer shapes against plain sgemm.",
    usage: ["bench ops [--batch B] [--threads T] [--numerics MODE] [--quick]"],
    options: [
      .option("--batch", "B", "Batch size of the layer shapes (default 512)."),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .numerics,
      .flag("--quick", "Time briefly (a smoke test; figures are noisier)."),
    ],
    examples: [
      "expertstream bench ops                # the paper's shapes at batch 512, all cores",
      "expertstream bench ops --threads 1    # single-threaded",
    ])

  let batch: Int
  let threads: Int
  let trialSeconds: Double

  init(_ arguments: ParsedArguments) throws {
    batch = try arguments.integer("--batch", in: 1...65_536) ?? 512
    threads = try arguments.integer("--threads", in: 1...1024) ?? Compute.threads
    try arguments.selectNumerics()
    trialSeconds = arguments.flag("--quick") ? 0.005 : 0.2
  }

  func run(_ console: Console) throws {
    try BLAS.ensureLoaded()
    Compute.threads = threads
    let timer = Stopwatch(trialSeconds: trialSeconds)
    console.print(
      "BLAS: OpenBLAS core \(BLAS.coreType) (\(BLAS.coreTypeSource)), \(BLAS.libraryPath); "
        + "numerics \(BLAS.numerics.rawValue)")
    console.print(
      "Engine threads: \(threads); OpenBLAS runs single-threaded inside the engine's blocks.")
    let peak = try OperationBenchmark.measurePeak(threads: threads, timer)
    console.print(
      String(
        format:
          "sgemm 1024³: %.1f GFLOP/s with OpenBLAS's own %d threads, %.1f GFLOP/s as the engine's blocks",
        peak.library, threads, peak.engine))
    console.print("")
    let rows = try OperationBenchmark(batch: batch, timer: timer).rows()
    console.print(formatTable(OperationBenchmark.table(rows, peak: peak.engine)))
    console.print("")
    console.print(
      "'sgemm GFLOP/s' times the same GEMM shapes as plain cblas_sgemm calls (for conv2d, the im2col"
    )
    console.print(
      "GEMMs without the unfolding); 'of 1024³ peak' compares with the engine's sgemm 1024³ rate.")
  }
}
