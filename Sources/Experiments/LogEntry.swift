import Continual
import Datasets
import Foundation
import MoE
import TensorCore

/// One entry of a run's log: the event's name, its fields (a JSON log line, with `event`
/// added), and the line of text people read.
///
/// Fields are JSON values (see ``JSONOutput/data(_:pretty:)``); a missing value is
/// `NSNull`. The text may span several lines.
public struct LogEntry {
  /// The event: `start`, `epoch`, `task_started`, `task_finished`, `run`, …
  public let name: String
  /// The event's fields.
  public let fields: [String: Any]
  /// The event for people.
  public let text: String

  /// An entry named `name` with `fields` and `text`.
  public init(_ name: String, _ fields: [String: Any], text: String) {
    self.name = name
    self.fields = fields
    self.text = text
  }

  /// Where the data came from: its directory, or `memory`.
  fileprivate static func source(_ dataset: Dataset) -> (field: Any, text: String) {
    (dataset.source?.directory ?? NSNull(), dataset.source?.directory ?? "memory")
  }
}

// MARK: - Continual runs

extension ContinualExperiment.Event {
  /// The event's log entry: a note, a resume, or the run's progress (see
  /// ``Continual/ContinualProgress/logEntry(classNames:)``); `nil` for a batch.
  public func logEntry(classNames: [String]) -> LogEntry? {
    switch self {
    case .note(let note):
      return LogEntry("note", ["note": note], text: "note: \(note)")
    case .resumed(let file, let done, let of):
      return LogEntry(
        "resume", ["file": file, "tasks_done": done],
        text: "resuming from \(file): \(done) of \(of) tasks done")
    case .progress(let progress):
      return progress.logEntry(classNames: classNames)
    }
  }
}

extension ContinualComparison.Run {
  /// The run's `start` entry: scenario, policy, seed, tasks, threads, numerics, and where
  /// the training data (`train`) came from.
  public func startEntry(train: Dataset) -> LogEntry {
    let source = LogEntry.source(train)
    let evaluatedOn = scenario.dataset.evaluateOn.rawValue
    let classOrder = scenario.classGroups.map { "\($0)" }.joined(separator: " ")
    return LogEntry(
      "start",
      [
        "scenario": scenario.name, "scenario_hash": scenario.hash, "policy": policy.rawValue,
        "seed": scenario.training.seed, "tasks": scenario.classGroups,
        "threads": Compute.threads, "evaluated_on": evaluatedOn,
        "numerics": BLAS.numericsDescription, "data_directory": source.field,
      ],
      text: "\(scenario.name): policy \(policy), seed \(scenario.training.seed), "
        + "\(experiment.stream.tasks.count) tasks, \(scenario.model.expert) experts, "
        + "\(scenario.model.gate) gate, \(Compute.threads) threads, "
        + "\(BLAS.numerics.rawValue) numerics, evaluated on the \(evaluatedOn) samples\n"
        + "class order: \(classOrder)\nscenario hash \(scenario.hash)\ndata from \(source.text)")
  }
}

extension ContinualProgress {
  /// The entry of this progress event, with classes named by `classNames`; `nil` for a
  /// batch (a live bar, not a log line).
  public func logEntry(classNames: [String]) -> LogEntry? {
    switch self {
    case .taskStarted(let task, let count, let classes, let events):
      let labels = classes.map { "\($0) \(classNames[$0])" }.joined(separator: ", ")
      return LogEntry(
        "task_started",
        [
          "task": task, "tasks": count, "classes": classes,
          "lifecycle": events.map(\.description),
        ],
        text: (["task \(task) (of \(count)): classes \(labels)"] + events.map { "  \($0)" })
          .joined(separator: "\n"))
    case .batch:
      return nil
    case .epoch(let task, let epoch, let of, let loss, let seconds, let rate):
      return LogEntry(
        "epoch",
        [
          "task": task, "epoch": epoch, "epochs": of, "loss": loss, "seconds": seconds,
          "samples_per_second": rate,
        ],
        text: String(
          format: "  task %d epoch %d/%d: loss %.4f, %.1f s, %.0f samples/s", task, epoch, of,
          loss, seconds, rate))
    case .taskFinished(let report):
      let percent = { (values: [Double]) in
        values.map { String(format: "%.1f", 100 * $0) }.joined(separator: " ")
      }
      return LogEntry(
        "task_finished",
        [
          "task": report.task, "accuracy_task_il": report.accuracyTaskIL,
          "accuracy_class_il": report.accuracyClassIL,
          "oracle_accuracy_class_il": report.oracleAccuracyClassIL,
          "experts": report.routing.experts, "usage_entropy_bits": report.routing.usageEntropy,
          "class_entropy_bits": report.routing.classEntropy,
          "routing_forgetting": report.routingForgetting,
          "routing_accuracy": report.routingAccuracy,
          "training_seconds": report.trainingSeconds,
        ],
        text:
          "  accuracy (%) on tasks 0…\(report.task): task-IL \(percent(report.accuracyTaskIL)); class-IL \(percent(report.accuracyClassIL)); oracle routing \(percent(report.oracleAccuracyClassIL))\n"
          + String(
            format:
              "  routing: %d experts, routing accuracy %.1f%%, usage entropy %.3f bits, class entropy %.3f bits, routing forgetting %.3f; task trained in %.1f s",
            report.routing.experts, 100 * report.routingAccuracy, report.routing.usageEntropy,
            report.routing.classEntropy, report.routingForgetting, report.trainingSeconds))
    }
  }
}

// MARK: - Paper runs

extension PaperComparison {
  /// The comparison's `start` entry for `scenario` (the one it was made from), `methods`
  /// and `seeds`, with where the training data (`train`) came from.
  public func startEntry(
    scenario: Scenario, methods: [PaperMethod], seeds: Int, train: Dataset
  ) -> LogEntry {
    let settings = experiment.settings
    let architecture = settings.architecture.rawValue
    let source = LogEntry.source(train)
    return LogEntry(
      "start",
      [
        "scenario": scenario.name, "scenario_hash": scenario.hash,
        "architecture": architecture, "experts": settings.experts,
        "methods": methods.map(\.rawValue), "seeds": seeds, "threads": Compute.threads,
        "numerics": BLAS.numericsDescription, "data_directory": source.field,
      ],
      text: "\(scenario.name): \(architecture), \(settings.experts) experts, "
        + "\(experiment.train.sampleCount) training / \(experiment.test.sampleCount) test "
        + "samples, \(settings.epochs) epochs, batch \(settings.batchSize), "
        + "\(Compute.threads) threads, \(BLAS.numerics.rawValue) numerics\n"
        + "scenario hash \(scenario.hash)\ndata from \(source.text)")
  }
}

extension PaperRunProgress {
  /// The entry of this progress event of `method` with `seed`; `nil` but for an epoch.
  public func logEntry(method: PaperMethod, seed: UInt64) -> LogEntry? {
    guard case .epoch(let epoch, let total, let loss, let seconds) = self else { return nil }
    return LogEntry(
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

extension PaperRunResult {
  /// The run's `run` entry: its metrics (``PaperMetrics``) and a line of the main ones.
  public var logEntry: LogEntry {
    LogEntry(
      "run", (try? JSONOutput.tree(PaperMetrics(self))) as? [String: Any] ?? [:],
      text: String(
        format:
          "%@ seed %d: train error %.4f, test error %.4f, H_u %.3f bits, %.1f s/epoch, %.0f samples/s",
        method.rawValue, seed, train.error, test.error, test.usageEntropy, secondsPerEpoch,
        samplesPerSecond))
  }
}

extension ContinualResult {
  /// The run's `run` entry: its metrics (``ContinualMetrics``) and where its checkpoints are
  /// (`directory`).
  public func logEntry(checkpoints directory: String) -> LogEntry {
    var fields = (try? JSONOutput.tree(metrics)) as? [String: Any] ?? [:]
    fields["checkpoints"] = directory
    return LogEntry("run", fields, text: "checkpoints in \(directory)")
  }
}
