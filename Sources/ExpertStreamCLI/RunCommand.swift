import Checkpoints
import Continual
import Datasets
import Experiments
import ExpertStream
import Foundation
import MoE
import NN
import Sweeps
import TensorCore

/// `expertstream run SCENARIO`: trains a scenario and prints its metrics.
struct RunCommand: Command {
  static let configuration = CommandConfiguration(
    name: "run",
    summary: "Train a scenario and print its metrics table.",
    usage: [
      "run SCENARIO [--method NAME]... [--policy NAME]... [--seeds N] [--metrics-json FILE] "
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
        "Continual scenarios: one of " + Scenario.LifecycleSettings.policies.joined(separator: ", ")
          + " (repeatable, or comma-separated; default: the scenario's lifecycle.policy).",
        repeatable: true),
      .option(
        "--seeds", "N",
        "Seeds per method or policy: training.seed + 0..<N (default: paper.seeds for paper scenarios, 1 otherwise)."
      ),
      .option("--metrics-json", "FILE", "Also write every run's metrics as JSON."),
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
  let policies: [String]?
  let seeds: Int?
  let metricsPath: String?
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
    policies = try Self.names(arguments, "--policy", known: Scenario.LifecycleSettings.policies)
    seeds = try arguments.integer("--seeds", in: 1...1000)
    metricsPath = arguments.value("--metrics-json")
    overrides = arguments.allValues("--set")
    dataDirectory = arguments.value("--data-dir")
    threads = try arguments.integer("--threads", in: 1...1024)
    try arguments.selectNumerics()
    quiet = arguments.flag("--quiet")
    logFormat =
      try arguments.choice("--log-format", from: LogFormat.allCases.map(\.rawValue))
      .flatMap(LogFormat.init(rawValue:)) ?? .text
  }

  private func log(_ console: Console) -> EventLog {
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
    let isPaper = scenario.mode == "paper"
    if isPaper, policies != nil || resume {
      throw UsageError(
        "\(path) is a paper scenario (mode: paper): \(policies != nil ? "--policy" : "--resume") "
          + "applies to continual scenarios only",
        hint: "choose methods with --method, or run a continual scenario")
    }
    if !isPaper, methods != nil {
      throw UsageError(
        "\(path) is a continual scenario: --method applies to paper scenarios (mode: paper) only",
        hint: "choose lifecycle policies with --policy")
    }
    if let metricsPath { try Self.checkMetricsDirectory(of: metricsPath) }
    if isPaper {
      try runPaper(scenario, console)
    } else {
      try runContinual(scenario, console)
    }
  }

  /// Checks, before anything is trained, that the directory of the metrics file at `path`
  /// can be created and takes new files.
  ///
  /// - Throws: ``UnusablePathError`` naming the directory and the reason.
  static func checkMetricsDirectory(of path: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    do {
      try FileSystem.createDirectory(directory)
      try FileSystem.checkWritable(directory)
    } catch let error as FileSystemError {
      throw UnusablePathError(
        problem: error.description, hint: "choose another file for --metrics-json")
    }
  }

  fileprivate func runPaper(_ scenario: Scenario, _ console: Console) throws {
    let methods = self.methods ?? scenario.paper.methods
    let seedCount = seeds ?? scenario.paper.seeds
    let started = Date()
    let (train, test) = try scenario.loadDatasets(dataDirectory: dataDirectory)
    let experiment = try PaperComparison(
      scenario: scenario, file: path, train: train, test: test
    ).experiment
    let (settings, architecture) = (experiment.settings, experiment.settings.architecture)
    let task = (train: experiment.train, test: experiment.test)
    let log = log(console)
    log.event(
      "start",
      [
        "scenario": scenario.name, "scenario_hash": scenario.hash,
        "architecture": architecture.rawValue, "experts": settings.experts,
        "methods": methods.map(\.rawValue), "seeds": seedCount, "threads": Compute.threads,
        "numerics": BLAS.numericsDescription, "data_directory": train.source?.directory ?? NSNull(),
      ],
      text: "\(scenario.name): \(architecture.rawValue), \(settings.experts) experts, "
        + "\(task.train.sampleCount) training / \(task.test.sampleCount) test samples, "
        + "\(settings.epochs) epochs, batch \(settings.batchSize), \(Compute.threads) threads, "
        + "\(BLAS.numerics.rawValue) numerics\n"
        + "scenario hash \(scenario.hash)\ndata from \(train.source?.directory ?? "memory")")
    var results: [PaperRunResult] = []
    let firstSeed = UInt64(scenario.training.seed)
    for seed in firstSeed..<(firstSeed + UInt64(seedCount)) {
      var trained: [PaperMethod: MixtureOfExperts] = [:]
      for method in methods {
        let reuse = method == .distilled ? trained[settings.distillFrom] : nil
        let (result, model) = try experiment.run(method, seed: seed, startingFrom: reuse) { event in
          report(event, method: method, seed: seed, log: log)
        }
        trained[method] = model
        results.append(result)
        // Rewritten after every run, so a long comparison cut short keeps what finished.
        if let metricsPath { try writeAtomically(try PaperReport.json(results), to: metricsPath) }
        guard !console.isOutputClosed else {
          throw OutputClosedError(
            stoppedAt: "the comparison stopped after \(method.rawValue) seed \(seed)"
              + (metricsPath.map { "; the metrics of the runs so far are in \($0)" } ?? ""))
        }
        log.event(
          "run", PaperReport.record(result),
          text: String(
            format:
              "%@ seed %d: train error %.4f, test error %.4f, H_u %.3f bits, %.1f s/epoch, %.0f samples/s",
            method.rawValue, seed, result.train.error, result.test.error,
            result.test.usageEntropy, result.secondsPerEpoch, result.samplesPerSecond))
      }
    }
    log.result("")
    log.result(
      "Mean ± std over \(seedCount) seed(s); entropies and I(E;Y) in bits, errors as fractions:")
    log.result(formatTable(PaperReport.summaryTable(results)))
    log.result("")
    log.result("The paper's rule (per method, the seed with the lowest training error):")
    log.result(formatTable(PaperReport.bestOfTable(results)))
    for method in methods where logFormat == .text {
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
    if case .epoch(let epoch, let total, let loss, let seconds) = event {
      log.event(
        "epoch",
        [
          "method": method.rawValue, "seed": seed, "epoch": epoch, "epochs": total, "loss": loss,
          "seconds": seconds,
        ],
        text: String(
          format: "  %@ seed %d epoch %d/%d: loss %.4f, %.1f s", method.rawValue, seed, epoch,
          total, loss, seconds))
    }
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

extension RunCommand {
  func runContinual(_ baseScenario: Scenario, _ console: Console) throws {
    let started = Date()
    let log = log(console)
    let (train, test) = try baseScenario.loadDatasets(dataDirectory: dataDirectory)
    let names = train.classNames
    var results: [ContinualResult] = []
    for policy in policies ?? [baseScenario.lifecycle.policy] {
      for offset in 0..<(seeds ?? 1) {
        var scenario = baseScenario
        scenario.training.seed += offset
        scenario.lifecycle.policy = policy
        let stream = TaskStream(scenario: scenario, train: train, test: test)
        log.event(
          "start",
          [
            "scenario": scenario.name, "scenario_hash": scenario.hash, "policy": policy,
            "seed": scenario.training.seed, "tasks": scenario.classGroups,
            "threads": Compute.threads, "evaluated_on": scenario.dataset.evaluateOn.rawValue,
            "numerics": BLAS.numericsDescription,
            "data_directory": train.source?.directory ?? NSNull(),
          ],
          text: "\(scenario.name): policy \(policy), seed \(scenario.training.seed), "
            + "\(stream.tasks.count) tasks, \(scenario.model.expert) experts, "
            + "\(scenario.model.gate) gate, \(Compute.threads) threads, "
            + "\(BLAS.numerics.rawValue) numerics, "
            + "evaluated on the \(scenario.dataset.evaluateOn.rawValue) samples\n"
            + "class order: " + scenario.classGroups.map { "\($0)" }.joined(separator: " ")
            + "\nscenario hash \(scenario.hash)\ndata from \(train.source?.directory ?? "memory")")
        let severalRuns = (policies?.count ?? 1) * (seeds ?? 1) > 1
        let directory =
          severalRuns
          ? "\(scenario.checkpoint.directory)/\(policy)/seed_\(scenario.training.seed)"
          : scenario.checkpoint.directory
        var resumeFrom: String?
        if resume {
          guard !severalRuns else {
            throw UsageError(
              "--resume continues one run", hint: "give at most one --policy and no --seeds")
          }
          resumeFrom = resumeFile
          if resumeFile == nil {
            let (newest, notes) = CheckpointDirectory.newestCompleteCheckpoint(in: directory)
            for note in notes { log.event("note", ["note": note], text: "note: \(note)") }
            guard let newest else {
              throw UsageError(
                "there is no checkpoint in \(directory) to resume from",
                hint: "drop --resume to start from the first task")
            }
            resumeFrom = newest
          }
        }
        var tasksDone = 0
        let experiment = ContinualExperiment(
          scenario: scenario, stream: stream, checkpointDirectory: directory,
          toolVersion: ExpertStreamVersion.current)
        let result = try experiment.run(resumingFrom: resumeFrom) { event in
          switch event {
          case .note(let note):
            log.event("note", ["note": note], text: "note: \(note)")
          case .resumed(let file, let done, let of):
            tasksDone = done
            log.event(
              "resume", ["file": file, "tasks_done": done],
              text: "resuming from \(file): \(done) of \(of) tasks done")
          case .progress(let progress):
            if case .taskFinished = progress { tasksDone += 1 }
            self.report(progress, log: log, names: names)
          }
          guard !console.isOutputClosed else {
            throw OutputClosedError(
              stoppedAt: tasksDone == 0
                ? "the run stopped before its first task finished"
                : "the run stopped after \(tasksDone) of \(stream.tasks.count) tasks; their "
                  + "checkpoints in \(directory) are complete (continue with --resume)")
          }
        }
        results.append(result)
        log.event(
          "run", result.record.merging(["checkpoints": directory]) { $1 },
          text: "checkpoints in \(directory)")
        printSummary(result, evaluatedOn: scenario.dataset.evaluateOn, log: log)
        if let metricsPath {
          let records: [[String: Any]] = results.map(\.record)
          var object: [String: Any] = records[0]
          if records.count > 1 { object = ["runs": records] }
          try writeAtomically(try JSONOutput.data(object, pretty: true), to: metricsPath)
        }
      }
    }
    if results.count > 1 && logFormat == .text {
      console.print("")
      console.print("Summary (accuracy in %, mean ± std over seeds):")
      var rows = [
        [
          "policy", "seeds", "task-IL acc", "class-IL acc", "class-IL BWT", "class-IL forgetting",
          "oracle class-IL", "routing acc", "routing forgetting",
        ]
      ]
      for policy in policies ?? [baseScenario.lifecycle.policy] {
        let runs = results.filter { $0.policy == policy }
        func column(_ value: (ContinualResult) -> Double) -> String {
          PaperReport.meanAndDeviation(runs.map { 100 * value($0) }, digits: 1)
        }
        rows.append([
          policy, "\(runs.count)",
          column { ContinualResult.averageAccuracy($0.accuracyMatrixTaskIL) },
          column { ContinualResult.averageAccuracy($0.accuracyMatrixClassIL) },
          column { ContinualResult.backwardTransfer($0.accuracyMatrixClassIL) },
          column { ContinualResult.forgetting($0.accuracyMatrixClassIL) },
          column { ContinualResult.averageAccuracy($0.reports.map(\.oracleAccuracyClassIL)) },
          ContinualRun.baselines.contains(policy)
            ? "-" : column { $0.reports.last?.routingAccuracy ?? 0 },
          column { ($0.record["routing_forgetting"] as? Double) ?? 0 },
        ])
      }
      console.print(formatTable(rows))
    }
    if let metricsPath { log.result("metrics written to \(metricsPath)") }
    logFinished(log, started: started)
  }

  private func report(_ event: ContinualProgress, log: EventLog, names: [String]) {
    switch event {
    case .taskStarted(let task, let count, let classes, let events):
      let labels = classes.map { "\($0) \(names[$0])" }.joined(separator: ", ")
      log.event(
        "task_started",
        [
          "task": task + 1, "tasks": count, "classes": classes,
          "lifecycle": events.map(\.description),
        ],
        text: (["task \(task + 1)/\(count): classes \(labels)"] + events.map { "  \($0)" })
          .joined(separator: "\n"))
    case .batch(let task, let epoch, let done, let of, let samples, let loss, let seconds):
      log.bar(
        Self.progressBar(
          "  task \(task + 1) epoch \(epoch)", done: done, of: of, samples: samples, loss: loss,
          seconds: seconds))
    case .epoch(let task, let epoch, let of, let loss, let seconds, let rate):
      log.event(
        "epoch",
        [
          "task": task + 1, "epoch": epoch, "epochs": of, "loss": loss, "seconds": seconds,
          "samples_per_second": rate,
        ],
        text: String(
          format: "  task %d epoch %d/%d: loss %.4f, %.1f s, %.0f samples/s", task + 1, epoch, of,
          loss, seconds, rate))
    case .taskFinished(let report):
      let percent = { (values: [Double]) in
        values.map { String(format: "%.1f", 100 * $0) }.joined(separator: " ")
      }
      log.event(
        "task_finished",
        [
          "task": report.task + 1, "accuracy_task_il": report.accuracyTaskIL,
          "accuracy_class_il": report.accuracyClassIL,
          "oracle_accuracy_class_il": report.oracleAccuracyClassIL,
          "experts": report.routing.experts, "usage_entropy_bits": report.routing.usageEntropy,
          "class_entropy_bits": report.routing.classEntropy,
          "routing_forgetting": report.routingForgetting,
          "routing_accuracy": report.routingAccuracy,
          "training_seconds": report.trainingSeconds,
        ],
        text:
          "  accuracy (%) on tasks 1…\(report.task + 1): task-IL \(percent(report.accuracyTaskIL)); class-IL \(percent(report.accuracyClassIL)); oracle routing \(percent(report.oracleAccuracyClassIL))\n"
          + String(
            format:
              "  routing: %d experts, routing accuracy %.1f%%, usage entropy %.3f bits, class entropy %.3f bits, routing forgetting %.3f; task trained in %.1f s",
            report.routing.experts, 100 * report.routingAccuracy, report.routing.usageEntropy,
            report.routing.classEntropy, report.routingForgetting, report.trainingSeconds))
    }
  }

  private func printSummary(
    _ result: ContinualResult, evaluatedOn split: Scenario.EvaluationSplit, log: EventLog
  ) {
    guard log.format == .text else { return }
    let console = log.console
    let percent = { (value: Double) in String(format: "%.1f", 100 * value) }
    console.print("")
    console.print(
      "\(result.policy), seed \(result.seed): accuracy matrices on the \(split.rawValue) samples "
        + "(%; row = after task, column = task)"
    )
    for (title, matrix) in [
      ("task-IL", result.accuracyMatrixTaskIL), ("class-IL", result.accuracyMatrixClassIL),
    ] {
      var rows = [[title] + (1...matrix.count).map { "T\($0)" }]
      for (index, row) in matrix.enumerated() {
        rows.append(
          ["after T\(index + 1)"] + row.map(percent)
            + Array(repeating: "", count: matrix.count - row.count))
      }
      console.print(formatTable(rows))
    }
    console.print(
      "average accuracy: task-IL \(percent(ContinualResult.averageAccuracy(result.accuracyMatrixTaskIL)))%, "
        + "class-IL \(percent(ContinualResult.averageAccuracy(result.accuracyMatrixClassIL)))%; "
        + "class-IL BWT \(percent(ContinualResult.backwardTransfer(result.accuracyMatrixClassIL))) points, "
        + "forgetting \(percent(ContinualResult.forgetting(result.accuracyMatrixClassIL))) points; "
        + "oracle-routing class-IL \(percent(ContinualResult.averageAccuracy(result.reports.map(\.oracleAccuracyClassIL))))%; "
        + (ContinualRun.baselines.contains(result.policy)
          ? "" : "routing accuracy \(percent(result.reports.last?.routingAccuracy ?? 0))%; ")
        + "task-IL forward transfer \(percent(result.forwardTransferTaskIL)) points"
    )
    let experts = result.experts.map { expert in
      "expert \(expert.id): spawned at task \(expert.spawnedAtTask + 1)"
        + (expert.frozenAtTask.map { ", frozen after task \($0 + 1)" } ?? ", trainable")
        + ", classes \(expert.classes)"
    }
    for line in experts { console.print(line) }
    if let last = result.reports.last {
      console.print("p(expert | class) after the last task, \(split.rawValue) samples:")
      var rows = [["expert"] + (0..<last.routing.classes).map { "\($0)" }]
      for (index, row) in last.routing.decomposition.enumerated() {
        rows.append(["\(index)"] + row.map { String(format: "%.2f", $0) })
      }
      console.print(formatTable(rows))
    }
  }
}

/// Writes `data` to `path` through a temporary file, synced and renamed into place (see
/// ``FileSystem/writeAtomically(_:to:)``).
func writeAtomically(_ data: Data, to path: String) throws {
  try FileSystem.writeAtomically(data, to: path)
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
