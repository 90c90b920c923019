import Checkpoints
import Continual
import Datasets
import Experiments
import Foundation
import MoE
import TensorCore

/// `expertstream run SCENARIO`: trains a scenario and prints its metrics.
struct RunCommand: Command {
  static let configuration = CommandConfiguration(
    name: "run",
    summary: "Train a scenario and print its metrics table.",
    usage: [
      "run SCENARIO [--method NAME]... [--policy NAME]... [--seeds N] [--metrics-json FILE] [--log-dir DIR] "
        + "[--set KEY=VALUE]... [--data-dir DIR] [--threads T] [--numerics MODE] [--quiet] [--log-format text|json]",
      "run SCENARIO --resume [FILE]",
    ],
    options: [
      .option(
        "--method", "NAME",
        "Paper scenarios: one of " + PaperMethod.allCases.map(\.rawValue).joined(separator: ", ")
          + " (repeatable, or comma-separated; default: the scenario's paper.methods).",
        repeatable: true),
      .option(
        "--policy", "NAME",
        "Continual scenarios: one of " + PolicyName.known.map(\.rawValue).joined(separator: ", ")
          + " (repeatable, or comma-separated; default: the scenario's lifecycle.policy).",
        repeatable: true),
      .option(
        "--seeds", "N",
        "Seeds per method or policy: training.seed + 0..<N (default: paper.seeds for paper scenarios, 1 otherwise)."
      ),
      .option("--metrics-json", "FILE", "Also write every run's metrics as JSON."),
      .option(
        "--log-dir", "DIR",
        "Continual scenarios: also write TensorBoard event files as the runs train, in "
          + "DIR/<policy>/seed_<seed> (default: the scenario's checkpoint.log_dir, if any)."),
      .option(
        "--set", "KEY=VALUE", "Override a scenario field, e.g. training.epochs=2.", repeatable: true
      ),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .numerics,
      .flag("--quiet", "Print only the final tables (no progress)."),
      .option(
        "--log-format", "FORMAT",
        "text (default: progress lines, and a live bar on a terminal) or json (one JSON object "
          + "per line: epoch, task and run events with their metrics; no tables)."),
      .flag(
        "--resume",
        "Continual scenarios: continue from a checkpoint (the FILE after the scenario, default "
          + "the run's latest.h5) with the task after the last one finished."),
    ],
    examples: [
      "expertstream run tasks/paper-fashion-mnist.json --method original,attentive+ls --seeds 3",
      "expertstream run tasks/paper-mnist.json --data-dir DIR",
      "expertstream run tasks/split-fashion-mnist.json --policy spawn-and-freeze,fine-tune",
    ],
    positionals: 1...2)

  let path: String
  let resume: Bool
  let resumeFile: String?
  let methods: [PaperMethod]?
  let policies: [PolicyName]?
  let seeds: Int?
  let metricsPath: String?
  let logDirectory: String?
  let overrides: [String]
  let dataDirectory: String?
  let threads: Int?
  let quiet: Bool
  let logFormat: LogFormat

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    resume = arguments.flag("--resume")
    resumeFile = arguments.positionals.count > 1 ? arguments.positionals[1] : nil
    if resumeFile != nil && !resume {
      throw UsageError(
        "unexpected argument '\(arguments.positionals[1])'",
        hint: "run takes one scenario file; a checkpoint file goes after --resume")
    }
    methods = try Self.names(arguments, "--method", known: PaperMethod.allCases.map(\.rawValue))?
      .map { PaperMethod(rawValue: $0)! }
    policies = try Self.names(arguments, "--policy", known: PolicyName.known.map(\.rawValue))?
      .map { PolicyName(rawValue: $0) }
    seeds = try arguments.integer("--seeds", in: 1...1000)
    metricsPath = arguments.value("--metrics-json")
    logDirectory = arguments.value("--log-dir")
    overrides = arguments.allValues("--set")
    dataDirectory = arguments.value("--data-dir")
    threads = try arguments.integer("--threads", in: 1...1024)
    try arguments.selectNumerics()
    quiet = arguments.flag("--quiet")
    logFormat =
      try arguments.choice("--log-format", from: LogFormat.allCases.map(\.rawValue))
      .flatMap(LogFormat.init(rawValue:)) ?? .text
  }

  func log(_ console: Console) -> EventLog {
    EventLog(console: console, format: logFormat, quiet: quiet)
  }

  /// The values of a repeatable, comma-separated option, each checked against `known`;
  /// `nil` when the option is absent.
  static func names(_ arguments: ParsedArguments, _ option: String, known: [String]) throws
    -> [String]?
  {
    let names = arguments.allValues(option).flatMap { $0.split(separator: ",").map(String.init) }
    guard !names.isEmpty else { return nil }
    if let unknown = names.first(where: { !known.contains($0) }) {
      let noun = option.dropFirst(2)
      throw UsageError(
        "unknown \(noun) '\(unknown)' for \(option)",
        hint: suggestion(for: unknown, among: known) + "one of: " + known.joined(separator: ", "))
    }
    return names
  }

  func run(_ console: Console) throws {
    if let threads { Compute.threads = threads }
    let scenario = try Scenario.load(path, overrides: overrides)
    let isPaper = scenario.mode == .paper
    if isPaper, policies != nil || resume || logDirectory != nil {
      let option = policies != nil ? "--policy" : resume ? "--resume" : "--log-dir"
      throw UsageError(
        "\(path) is a paper scenario (mode: paper): \(option) "
          + "applies to continual scenarios only",
        hint: "choose methods with --method, or run a continual scenario")
    }
    if !isPaper, methods != nil {
      throw UsageError(
        "\(path) is a continual scenario: --method applies to paper scenarios (mode: paper) only",
        hint: "choose lifecycle policies with --policy")
    }
    do {
      try metricsPath.map(MetricsFile.checkWritable)
    } catch let error as FileSystemError {
      throw UnusablePathError(
        problem: error.description, hint: "choose another file for --metrics-json")
    }
    if isPaper {
      try runPaper(scenario, console)
    } else {
      try runContinual(scenario, console)
    }
  }

  fileprivate func runPaper(_ scenario: Scenario, _ console: Console) throws {
    let methods = self.methods ?? scenario.paper.methods
    let seedCount = seeds ?? scenario.paper.seeds
    let started = Date()
    let (train, test) = try scenario.loadDatasets(dataDirectory: dataDirectory)
    let comparison = try PaperComparison(scenario: scenario, file: path, train: train, test: test)
    let log = log(console)
    log.entry(
      comparison.startEntry(scenario: scenario, methods: methods, seeds: seedCount, train: train))
    let results = try comparison.run(
      methods: methods, seeds: seedCount, metricsFile: metricsPath,
      progress: { report($2, method: $0, seed: $1, log: log) },
      finished: { result in
        guard !console.isOutputClosed else {
          throw OutputClosedError(
            stoppedAt: "the comparison stopped after \(result.method.rawValue) seed \(result.seed)"
              + (metricsPath.map { "; the metrics of the runs so far are in \($0)" } ?? ""))
        }
        log.entry(result.logEntry)
      })
    log.result(
      PaperReport.summaryText(
        results, methods: methods, seeds: seedCount, classNames: train.classNames))
    if let metricsPath {
      log.result("")
      log.result("metrics written to \(metricsPath)")
    }
    logFinished(log, started: started)
  }

  private func report(_ event: PaperRunProgress, method: PaperMethod, seed: UInt64, log: EventLog) {
    if case .batch(let epoch, let done, let of, let samples, let loss, let seconds) = event {
      log.bar(
        Self.progressBar(
          "  \(method.rawValue) seed \(seed) epoch \(epoch)", done: done, of: of,
          samples: samples, loss: loss, seconds: seconds))
    }
    if let entry = event.logEntry(method: method, seed: seed) { log.entry(entry) }
  }

  /// The live bar of an epoch: `label`, batches done of `of`, samples/s, the running loss
  /// and the time left in the epoch.
  static func progressBar(
    _ label: String, done: Int, of: Int, samples: Int, loss: Double, seconds: Double
  ) -> String {
    let rate = seconds > 0 ? Double(samples) / seconds : 0
    let left = done > 0 ? seconds / Double(done) * Double(of - done) : 0
    return label + " "
      + Console.bar(
        done: done, total: of,
        detail: String(format: "%.0f samples/s, loss %.4f, ETA %@", rate, loss, duration(left)))
  }

  /// The last event of a run: total seconds and where the metrics went.
  func logFinished(_ log: EventLog, started: Date) {
    let total = Date().timeIntervalSince(started)
    log.event(
      "finished", ["seconds": total, "metrics_json": metricsPath ?? NSNull()],
      text: String(format: "total %.1f s", total))
  }

  /// `m:ss` (or `h:mm:ss`) for a number of seconds.
  static func duration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    let (hours, minutes, rest) = (total / 3600, total / 60 % 60, total % 60)
    return hours > 0
      ? String(format: "%d:%02d:%02d", hours, minutes, rest)
      : String(format: "%d:%02d", minutes, rest)
  }
}

/// A file or directory the user chose that cannot be used: exit code 2, the path, the
/// reason and what to do instead.
struct UnusablePathError: UserInputError {
  /// The path and why it cannot be used.
  let problem: String
  /// What to do instead.
  let hint: String

  var description: String { "\(problem)\nhint: \(hint)" }
}

/// A checkpoint directory that cannot be used is the user's choice: exit code 2.
extension CheckpointDirectoryError: UserInputError {}

/// `--resume` with no checkpoint to resume from is the user's choice: exit code 2.
extension NoCheckpointError: UserInputError {}
