import Checkpoints
import Continual
import Datasets
import ExpertStream
import Foundation
import MoE
import NN
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
    attentive =
      (try arguments.choice("--gate", from: ["softmax", "attentive"]) ?? "attentive")
      == "attentive"
    batch = try arguments.integer("--batch", in: 2...65_536) ?? 512
    threads = try arguments.integer("--threads", in: 1...1024) ?? Compute.threads
    try arguments.selectNumerics()
    trialSeconds = arguments.flag("--quick") ? 0.005 : 0.5
  }

  func run(_ console: Console) throws {
    try BLAS.ensureLoaded()
    Compute.threads = threads
    var generator = RandomGenerator(seed: 1)
    let members: [any Expert] = try (0..<experts).map { _ in
      try architecture.makeExpert(classCount: 10, using: &generator)
    }
    let trunk = try architecture.makeGateTrunk(using: &generator)
    let gate: any Gate =
      attentive
      ? try AttentiveGate(
        trunk: trunk, dimension: architecture.hiddenCount, expertCount: experts,
        using: &generator)
      : try SoftmaxGate(
        trunk: trunk, hiddenCount: architecture.hiddenCount, expertCount: experts,
        using: &generator)
    let model = try MixtureOfExperts(experts: members, gate: gate)
    let input = try Tensor.normal([batch] + architecture.inputShape, using: &generator)
    let targets = (0..<batch).map { $0 % 10 }
    let optimizer = Adam()
    let timer = Stopwatch(trialSeconds: trialSeconds)
    console.print(
      "\(architecture.rawValue), \(experts) experts, \(attentive ? "attentive" : "softmax") gate, "
        + "batch \(batch), \(threads) engine threads, BLAS core \(BLAS.coreType); "
        + "\(model.parameterCount) parameters")

    var rows = [["phase", "ms per batch", "samples/s"]]
    func add(_ name: String, _ seconds: Double) {
      rows.append([
        name, String(format: "%.2f", seconds * 1e3),
        String(format: "%.0f", Double(batch) / seconds),
      ])
    }
    model.train(true)
    add(
      "forward (with graph)",
      try timer.seconds {
        _ = try model.objective(MixtureObjective(), input: input, targets: targets)
      })
    add(
      "train step: forward+backward+Adam",
      try timer.seconds {
        _ = try model.trainStep(
          input: input, targets: targets, objective: MixtureObjective(), optimizer: optimizer)
      })
    let regularized = MixtureObjective(
      sampleSimilarity: SampleSimilarityRegularizer(betaSame: 1e-6, betaDifferent: 1e-6))
    add(
      "train step with L_s",
      try timer.seconds {
        _ = try model.trainStep(
          input: input, targets: targets, objective: regularized, optimizer: optimizer)
      })
    model.train(false)
    var statistics = RoutingStatistics(experts: experts, classes: 10)
    add(
      "evaluation (no graph, routing metrics)",
      try timer.seconds { try model.accumulate(into: &statistics, input: input, targets: targets) })
    console.print(formatTable(rows))
  }
}
