import Benchmarks
import Continual
import Foundation
import MoE
import TensorCore

/// `expertstream bench moe`: training and evaluation throughput of a paper mixture on
/// random data of the architecture's input shape.
struct BenchMoECommand: Command {
  static let configuration = CommandConfiguration(
    name: "bench moe",
    summary: "Measure training steps and evaluation of a paper mixture, in samples/s.",
    usage: [
      "bench moe [--architecture NAME] [--experts E] [--gate softmax|attentive] [--batch B] "
        + "[--threads T] [--numerics MODE] [--quick]"
    ],
    options: [
      .option(
        "--architecture", "NAME",
        "paper-mnist, paper-fmnist (default) or paper-cifar100."),
      .option("--experts", "E", "Number of experts (default 5)."),
      .option("--gate", "KIND", "softmax or attentive (default attentive)."),
      .option("--batch", "B", "Batch size (default 512)."),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .numerics,
      .flag("--quick", "Time briefly (a smoke test; figures are noisier)."),
    ],
    examples: [
      "expertstream bench moe                                  # paper-fmnist, 5 experts, attentive",
      "expertstream bench moe --architecture paper-cifar100 --experts 20 --batch 256",
    ])

  let architecture: PaperArchitecture
  let experts: Int
  let attentive: Bool
  let batch: Int
  let threads: Int
  let trialSeconds: Double

  init(_ arguments: ParsedArguments) throws {
    let names = PaperArchitecture.allCases.map(\.rawValue)
    architecture = PaperArchitecture(
      rawValue: try arguments.choice("--architecture", from: names) ?? "paper-fmnist")!
    experts = try arguments.integer("--experts", in: 1...256) ?? 5
    attentive = (try arguments.choice("--gate") ?? Scenario.GateKind.attentive) == .attentive
    batch = try arguments.integer("--batch", in: 2...65_536) ?? 512
    threads = try arguments.integer("--threads", in: 1...1024) ?? Compute.threads
    try arguments.selectNumerics()
    trialSeconds = arguments.flag("--quick") ? 0.005 : 0.5
  }

  func run(_ console: Console) throws {
    try BLAS.ensureLoaded()
    Compute.threads = threads
    let benchmark = try MixtureBenchmark(
      architecture: architecture, experts: experts, attentive: attentive, batch: batch)
    console.print(
      "\(architecture.rawValue), \(experts) experts, "
        + "\(attentive ? Scenario.GateKind.attentive : .softmax) gate, "
        + "batch \(batch), \(threads) engine threads, BLAS core \(BLAS.coreType); "
        + "\(benchmark.model.parameterCount) parameters")
    let phases = try benchmark.phases(timer: Stopwatch(trialSeconds: trialSeconds))
    console.print(formatTable(benchmark.table(phases)))
  }
}
