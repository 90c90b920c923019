import Checkpoints
import Continual
import Datasets
import ExpertStream
import MoE
import NN
import TensorCore
import Foundation

/// `expertstream run SCENARIO`: trains a scenario and prints its metrics.
struct RunCommand: Command {
  static let configuration = CommandConfiguration(
    name: "run",
    summary: "Train a scenario and print its metrics table.",
    usage: [
      "run SCENARIO [--method NAME]... [--seeds N] [--metrics-json FILE] [--set KEY=VALUE]... "
        + "[--data-dir DIR] [--threads T] [--quiet]"
    ],
    options: [
      .option(
        "--method", "NAME",
        "Paper scenarios: one of " + PaperMethod.allCases.map(\.rawValue).joined(separator: ", ")
          + " (repeatable, or comma-separated; default: the scenario's paper.methods).",
        repeatable: true),
      .option("--seeds", "N", "Paper scenarios: seeds 0..<N per method (default paper.seeds)."),
      .option("--metrics-json", "FILE", "Also write every run's metrics as JSON."),
      .option(
        "--set", "KEY=VALUE", "Override a scenario field, e.g. training.epochs=2.", repeatable: true
      ),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .flag("--quiet", "Print only the final tables."),
    ],
    examples: [
      "expertstream run tasks/paper-fashion-mnist.json --method original,attentive+ls --seeds 3",
      "expertstream run tasks/paper-mnist.json --data-dir ../shared/datasets/mnist",
    ],
    positionals: 1...1)

  let path: String
  let methods: [PaperMethod]?
  let seeds: Int?
  let metricsPath: String?
  let overrides: [String]
  let dataDirectory: String?
  let threads: Int?
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    let names = arguments.allValues("--method").flatMap {
      $0.split(separator: ",").map(String.init)
    }
    methods =
      try names.isEmpty
      ? nil
      : names.map { name in
        guard let method = PaperMethod(rawValue: name) else {
          throw UsageError(
            "unknown method '\(name)' for --method",
            hint: suggestion(for: name, among: PaperMethod.allCases.map(\.rawValue)) + "one of: "
              + PaperMethod.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return method
      }
    seeds = try arguments.integer("--seeds", in: 1...1000)
    metricsPath = arguments.value("--metrics-json")
    overrides = arguments.allValues("--set")
    dataDirectory = arguments.value("--data-dir")
    threads = try arguments.integer("--threads", in: 1...1024)
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    if let threads { Compute.threads = threads }
    let scenario = try Scenario.load(path, overrides: overrides)
    guard scenario.mode == "paper" else {
      throw UsageError(
        "\(path) is a continual scenario; this version runs paper scenarios (mode \"paper\") only",
        hint:
          "continual task streams arrive with the lifecycle runner; try tasks/paper-fashion-mnist.json"
      )
    }
    try runPaper(scenario, console)
  }

  private func runPaper(_ scenario: Scenario, _ console: Console) throws {
    guard let architecture = PaperArchitecture(rawValue: scenario.model.expert) else {
      throw ScenarioError(
        file: path, path: "model.expert",
        message: "paper runs need a paper architecture (paper-mnist, paper-fmnist, paper-cifar100)")
    }
    let methods = self.methods ?? scenario.paper.methods
    let seedCount = seeds ?? scenario.paper.seeds
    let started = Date()
    let train = try DatasetRegistry.load(
      scenario.dataset.name, split: .train, dataDirectory: dataDirectory,
      labels: scenario.dataset.labels)
    let test = try DatasetRegistry.load(
      scenario.dataset.name, split: .test, dataDirectory: dataDirectory,
      labels: scenario.dataset.labels)
    let stream = TaskStream(
      train: train, test: test, classGroups: [scenario.classGroups.flatMap { $0 }],
      validationFraction: scenario.dataset.validationFraction,
      trainSamplesPerClass: scenario.dataset.trainSamplesPerClass,
      testSamplesPerClass: scenario.dataset.testSamplesPerClass,
      seed: UInt64(scenario.training.seed))
    let task = stream.tasks[0]
    var settings = PaperExperimentSettings(architecture: architecture)
    settings.experts = scenario.model.experts
    settings.classes = scenario.classCount
    settings.epochs = scenario.training.epochs
    settings.distillationEpochs = scenario.paper.distillationEpochs
    settings.batchSize = scenario.training.batchSize
    settings.learningRate = Float(scenario.training.optimizer.learningRate)
    settings.weightDecay = Float(scenario.training.optimizer.weightDecay)
    settings.singleWeightDecay = Float(scenario.paper.singleWeightDecay)
    settings.loss = scenario.training.loss
    if let similarity = scenario.regularizers.sampleSimilarity {
      settings.sampleSimilarity = similarity
    }
    if let importance = scenario.regularizers.importance { settings.importance = importance }
    settings.distillFrom = scenario.paper.distillFrom
    let experiment = PaperExperiment(
      settings: settings, train: TaskView(dataset: train, indices: task.trainIndices),
      test: TaskView(dataset: test, indices: task.testIndices))
    if !quiet {
      console.print(
        "\(scenario.name): \(architecture.rawValue), \(settings.experts) experts, "
          + "\(task.trainIndices.count) training / \(task.testIndices.count) test samples, "
          + "\(settings.epochs) epochs, batch \(settings.batchSize), \(Compute.threads) threads")
      console.print("scenario hash \(scenario.hash)")
    }
    var results: [PaperRunResult] = []
    for seed in 0..<UInt64(seedCount) {
      var trained: [PaperMethod: MixtureOfExperts] = [:]
      for method in methods {
        let reuse = method == .distilled ? trained[settings.distillFrom] : nil
        let (result, model) = try experiment.run(method, seed: seed, startingFrom: reuse) { event in
          report(event, method: method, seed: seed, console: console)
        }
        trained[method] = model
        results.append(result)
        // Rewritten after every run, so a long comparison cut short keeps what finished.
        if let metricsPath { try writeAtomically(try PaperReport.json(results), to: metricsPath) }
        if !quiet {
          console.print(
            String(
              format:
                "%@ seed %d: train error %.4f, test error %.4f, H_u %.3f bits, %.1f s/epoch, %.0f samples/s",
              method.rawValue, seed, result.train.error, result.test.error,
              result.test.usageEntropy, result.secondsPerEpoch, result.samplesPerSecond))
        }
      }
    }
    console.print("")
    console.print(
      "Mean ± std over \(seedCount) seed(s); entropies and I(E;Y) in bits, errors as fractions:")
    console.print(formatTable(PaperReport.summaryTable(results)))
    console.print("")
    console.print("The paper's rule (per method, the seed with the lowest training error):")
    console.print(formatTable(PaperReport.bestOfTable(results)))
    for method in methods {
      guard
        let best = results.filter({ $0.method == method }).min(by: {
          $0.train.error < $1.train.error
        })
      else { continue }
      console.print("")
      console.print("\(method.rawValue), seed \(best.seed): p(expert | class) on the test set")
      var table = [["expert"] + train.classNames]
      for (expert, row) in best.test.decomposition.enumerated() {
        table.append(["\(expert)"] + row.map { String(format: "%.2f", $0) })
      }
      console.print(formatTable(table))
    }
    if let metricsPath {
      console.print("")
      console.print("metrics written to \(metricsPath)")
    }
    if !quiet {
      console.print(String(format: "total %.1f s", Date().timeIntervalSince(started)))
    }
  }

  private func report(
    _ event: PaperRunProgress, method: PaperMethod, seed: UInt64, console: Console
  ) {
    guard !quiet else { return }
    if case .epoch(let epoch, let total, let loss, let seconds) = event {
      console.print(
        String(
          format: "  %@ seed %d epoch %d/%d: loss %.4f, %.1f s", method.rawValue, seed, epoch,
          total,
          loss, seconds))
    }
  }
}

/// Writes `data` to a temporary file beside `path` and renames it into place.
func writeAtomically(_ data: Data, to path: String) throws {
  let url = URL(fileURLWithPath: path)
  try FileManager.default.createDirectory(
    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
  try data.write(to: url, options: .atomic)
}
