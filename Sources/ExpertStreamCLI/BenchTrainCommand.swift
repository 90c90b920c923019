import Benchmarks
import Continual
import Datasets
import Foundation
import MoE
import TensorCore

/// `expertstream bench train`: training throughput of a paper mixture on FashionMNIST (or
/// data of its shape), after a warm-up, with the process's peak memory.
struct BenchTrainCommand: Command {
  static let configuration = CommandConfiguration(
    name: "bench train",
    summary:
      "Train a paper mixture for a fixed number of batches; print samples/s and peak memory.",
    usage: [
      "bench train [--architecture paper-mnist|paper-fmnist] [--gate softmax|attentive] [--experts E] "
        + "[--batch B] [--ls BETA_S,BETA_D] [--threads T] [--numerics MODE] [--batches N] [--warmup W] [--synthetic]"
    ],
    options: [
      .option("--architecture", "NAME", "paper-mnist or paper-fmnist (default)."),
      .option("--gate", "KIND", "softmax (the paper's original method) or attentive (default)."),
      .option("--experts", "E", "Number of experts (default 5)."),
      .option("--batch", "B", "Batch size (default 512)."),
      .option("--ls", "BETA_S,BETA_D", "Add L_s with the authors' placement."),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .numerics,
      .option("--batches", "N", "Timed batches (default 60)."),
      .option("--warmup", "W", "Untimed batches first (default 20: allocator and caches settle)."),
      .flag("--synthetic", "Random data of FashionMNIST's shape instead of the real files."),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
    ],
    examples: [
      "expertstream bench train --architecture paper-mnist --gate attentive --ls 1e-6,1e-2 --threads 2"
    ])

  let architecture: PaperArchitecture
  let attentive: Bool
  let experts: Int
  let batch: Int
  let betas: (same: Float, different: Float)?
  let threads: Int
  let batches: Int
  let warmup: Int
  let synthetic: Bool
  let dataDirectory: String?

  init(_ arguments: ParsedArguments) throws {
    architecture = PaperArchitecture(
      rawValue: try arguments.choice("--architecture", from: ["paper-mnist", "paper-fmnist"])
        ?? "paper-fmnist")!
    attentive = (try arguments.choice("--gate") ?? Scenario.GateKind.attentive) == .attentive
    experts = try arguments.integer("--experts", in: 1...64) ?? 5
    batch = try arguments.integer("--batch", in: 2...65_536) ?? 512
    threads = try arguments.integer("--threads", in: 1...1024) ?? Compute.threads
    try arguments.selectNumerics()
    batches = try arguments.integer("--batches", in: 1...100_000) ?? 60
    warmup = try arguments.integer("--warmup", in: 0...100_000) ?? 20
    synthetic = arguments.flag("--synthetic")
    dataDirectory = arguments.value("--data-dir")
    if let text = arguments.value("--ls") {
      let parts = text.split(separator: ",").compactMap { Float($0) }
      guard parts.count == 2 else {
        throw UsageError("--ls takes two numbers, got '\(text)'", hint: "e.g. --ls 1e-6,1e-6")
      }
      betas = (parts[0], parts[1])
    } else {
      betas = nil
    }
  }

  func run(_ console: Console) throws {
    try BLAS.ensureLoaded()
    Compute.threads = threads
    let source: any SampleSource =
      synthetic
      ? try TrainingBenchmark.syntheticImages(count: 60_000, seed: 1)
      : try DatasetRegistry.load("fashion-mnist", split: .train, dataDirectory: dataDirectory)
    let measured = try TrainingBenchmark(
      architecture: architecture, attentive: attentive, experts: experts, batch: batch,
      betas: betas, batches: batches, warmup: warmup
    ).run(on: source, threads: threads)
    let gate = attentive ? Scenario.GateKind.attentive : .softmax
    let regularizer = betas.map { " + L_s(\($0.same), \($0.different))" } ?? ""
    console.print(
      "\(architecture.rawValue), \(gate) gate\(regularizer), \(experts) experts, batch \(batch), "
        + "\(threads) threads, \(synthetic ? "synthetic" : "FashionMNIST") data, "
        + "numerics \(BLAS.numericsDescription)")
    console.print(
      String(
        format: "samples/s %.0f (%d batches in %.2f s after %d warm-up); peak memory %.0f MiB",
        measured.samplesPerSecond, batches, measured.seconds, warmup, measured.peakMemoryMiB))
    console.print(
      String(
        format:
          "%.2f MFLOP per sample (forward + backward of the GEMM and convolution layers); "
          + "%.1f GFLOP/s, %.0f%% of the engine's sgemm 1024³ rate (%.1f GFLOP/s) in this run",
        measured.flopsPerSample / 1e6, measured.achievedRate,
        100 * measured.achievedRate / measured.engineRate, measured.engineRate))
  }
}
