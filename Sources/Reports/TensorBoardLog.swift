import Checkpoints
import Continual
import Experiments
import Foundation
import Sweeps

/// One continual run's TensorBoard log: what the run reports, written to an event file as
/// it trains.
///
/// Feed it the run's events (``record(_:)``); it writes, tag by tag:
/// - `loss`: each epoch's mean training loss, at step `task × training.epochs + epoch`
///   (the epochs trained so far, counting from 1);
/// - at step `t`, the index of the task just finished (from 0):
///   `accuracy_task_il/task_<j>` and `accuracy_class_il/task_<j>` for every task `j ≤ t`
///   (row `t` of the accuracy matrices), `accuracy_task_il/average` and
///   `accuracy_class_il/average`, `bwt_task_il` and `bwt_class_il` (over the rows so far,
///   so the last step's equal the metrics' `average_accuracy_*` and `bwt_*`),
///   `routing_accuracy` (mixture policies only), `routing_forgetting`,
///   `expert_usage/expert_<e>`, `usage_entropy_bits`, `class_entropy_bits`, and the image
///   `decomposition`: p(expert | class), experts down and classes across, darker for more;
/// - at step 0, the text `scenario` (the resolved scenario as JSON, without the
///   `checkpoint` section: what ``Continual/Scenario/hash`` covers) and `scenario_hash`.
///
/// Scalars are stored as `Float`, as TensorBoard keeps them. A resumed run writes a new
/// event file beside the first; the rows of the tasks finished before are read from the
/// checkpoint it resumed from.
public final class TensorBoardRunLog {
  /// The event file being written.
  public let file: TensorBoardEventFile
  /// The run's scenario (its seed and policy the run's).
  public let scenario: Scenario
  private var rowsTaskIL: [[Double]] = []
  private var rowsClassIL: [[Double]] = []

  /// A log of a run of `scenario` in a new event file in `directory` (created when
  /// missing), starting with the scenario and its hash as text.
  ///
  /// - Throws: ``FileSystemError`` when the directory or file cannot be created or written.
  public init(directory: String, scenario: Scenario) throws {
    file = try TensorBoardEventFile(directory: directory)
    self.scenario = scenario
    // What the hash covers: where files go is no part of the run (and a sweep's runs
    // checkpoint elsewhere than their scenario says).
    let json = try JSONOutput.data(scenario.runObject, pretty: true)
    // Indented four spaces: a code block in the text dashboard's markdown.
    let block = String(decoding: json, as: UTF8.self).split(separator: "\n")
      .map { "    " + $0 }.joined(separator: "\n")
    try file.addText("scenario", block, step: 0)
    try file.addText("scenario_hash", scenario.hash, step: 0)
  }

  /// Writes what `event` reports: an epoch's loss, or a finished task's metrics.
  ///
  /// A resume reads the finished tasks' accuracies from the checkpoint resumed from.
  /// - Throws: ``FileSystemError`` when the event file cannot be written; the checkpoint
  ///   reader's error when the checkpoint of a resume cannot be read.
  public func record(_ event: ContinualExperiment.Event) throws {
    switch event {
    case .note: break
    case .resumed(let path, _, _):
      let reports = try Checkpoint.read(path).reports
      rowsTaskIL = reports.map(\.accuracyTaskIL)
      rowsClassIL = reports.map(\.accuracyClassIL)
    case .progress(.epoch(let task, let epoch, let epochs, let loss, _, _)):
      try file.addScalar("loss", loss, step: task * epochs + epoch)
    case .progress(.taskFinished(let report)):
      try record(report)
    case .progress: break
    }
  }

  /// Writes the metrics of a finished task at step `report.task`.
  private func record(_ report: TaskReport) throws {
    let step = report.task
    rowsTaskIL = Array(rowsTaskIL.prefix(step)) + [report.accuracyTaskIL]
    rowsClassIL = Array(rowsClassIL.prefix(step)) + [report.accuracyClassIL]
    for (name, rows) in [("task_il", rowsTaskIL), ("class_il", rowsClassIL)] {
      for (task, accuracy) in rows[step].enumerated() {
        try file.addScalar("accuracy_\(name)/task_\(task)", accuracy, step: step)
      }
      try file.addScalar(
        "accuracy_\(name)/average", ContinualResult.averageAccuracy(rows), step: step)
      try file.addScalar("bwt_\(name)", ContinualResult.backwardTransfer(rows), step: step)
    }
    if !PolicyName.baselines.contains(scenario.lifecycle.policy) {
      try file.addScalar("routing_accuracy", report.routingAccuracy, step: step)
    }
    try file.addScalar("routing_forgetting", report.routingForgetting, step: step)
    for (expert, usage) in report.routing.usage.enumerated() {
      try file.addScalar("expert_usage/expert_\(expert)", usage, step: step)
    }
    try file.addScalar("usage_entropy_bits", report.routing.usageEntropy, step: step)
    try file.addScalar("class_entropy_bits", report.routing.classEntropy, step: step)
    try file.addImage(
      "decomposition", PNGImage(heatMap: report.routing.decomposition), step: step)
  }
}

/// TensorBoard logs of a comparison's or a sweep's continual runs, one directory per run.
///
/// A comparison's run (``ContinualComparison``, the command line's `run`) logs into
/// `<directory>/<policy>/seed_<seed>`, a sweep's (``SweepRunner``) into
/// `<directory>/<run id>`; point TensorBoard at the directory to see them side by side.
/// Without a directory, each run logs under its scenario's `checkpoint.log_dir`, and a run
/// whose scenario has none is not logged. Paper runs are not logged.
public final class TensorBoardLog {
  /// Where the runs' directories go; `nil` for each scenario's `checkpoint.log_dir`.
  public let directory: String?
  private var current: (run: String, log: TensorBoardRunLog)?
  /// The sweep run whose log failed: not logged any further.
  private var abandonedRun: String?

  /// Logs under `directory`, or each run's scenario's `checkpoint.log_dir` when `nil`.
  public init(directory: String?) {
    self.directory = directory
  }

  /// Where a run of `scenario` named `name` (its directory's name under the log
  /// directory) is logged; `nil` when it is not.
  private func runDirectory(_ name: String, scenario: Scenario) -> String? {
    guard scenario.mode == .continual,
      let base = directory ?? scenario.checkpoint.logDirectory
    else { return nil }
    return "\(base)/\(name)"
  }

  /// Writes what a comparison's `event` reports to its run's log, opened when the run
  /// starts.
  ///
  /// - Throws: ``FileSystemError`` when the log cannot be created or written; the
  ///   checkpoint reader's error when the checkpoint of a resume cannot be read.
  public func record(_ event: ContinualComparison.Event) throws {
    switch event {
    case .started(let run):
      let name = "\(run.policy)/seed_\(run.scenario.training.seed)"
      current = try runDirectory(name, scenario: run.scenario).map {
        (name, try TensorBoardRunLog(directory: $0, scenario: run.scenario))
      }
    case .experiment(_, let event):
      try current?.log.record(event)
    case .finished:
      current = nil
    }
  }

  /// Writes what a sweep's `event` reports to its run's log, opened at the run's first
  /// training event (a run already finished logs nothing).
  ///
  /// A failure leaves the run's log; its later events are not logged.
  /// - Throws: ``FileSystemError`` when the log cannot be created or written; the
  ///   checkpoint reader's error when the checkpoint of a resume cannot be read.
  public func record(_ event: SweepRunner.Event) throws {
    switch event {
    case .runStarted: current = nil
    case .experiment(let run, let event):
      guard run.id != abandonedRun else { return }
      do {
        if current?.run != run.id {
          guard let path = runDirectory(run.id, scenario: run.scenario) else { return }
          current = (run.id, try TensorBoardRunLog(directory: path, scenario: run.scenario))
        }
        try current?.log.record(event)
      } catch {
        (current, abandonedRun) = (nil, run.id)
        throw error
      }
    case .runEnded: current = nil
    default: break
    }
  }
}
