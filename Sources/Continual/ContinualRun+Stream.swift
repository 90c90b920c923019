import Datasets
import Foundation
import MoE
import NN
import TensorCore

extension ContinualRun {
  // MARK: - The stream

  /// Trains every task in order and evaluates after each.
  ///
  /// An error `progress` throws stops the run there (after the batch, epoch or task it
  /// reports) and is rethrown; the tasks finished before stay in ``state``.
  public func run(progress: (ContinualProgress) throws -> Void = { _ in }) throws
    -> ContinualResult
  {
    if initialAccuracies.isEmpty {
      initialAccuracies = try stream.tasks.map { try taskAccuracy($0) }
    }
    for task in stream.tasks.dropFirst(finishedReports.count) {
      model.currentTask = task.index
      // The task's events: those since the last finished task's, so that what was done by
      // hand between tasks (or before the first) is recorded with the task it preceded.
      let logStart = finishedReports.reduce(0) { $0 + $1.events.count }
      try applyPolicy(before: task)
      let before = try taskAccuracy(task)
      try progress(
        .taskStarted(
          task: task.index, of: stream.tasks.count, classes: task.classes,
          events: Array(model.lifecycleLog[logStart...])))
      var (seconds, losses) = try train(task, progress: progress)
      try policy.finish(task, in: self)
      seconds += try fitEvidence(after: task)
      seconds += try trainGateOnReplay(through: task)
      var report = try evaluate(
        after: task, seconds: seconds, loss: losses.last ?? 0,
        events: Array(model.lifecycleLog[logStart...]))
      report.epochLosses = losses
      report.forwardTransferTerms = (before, initialAccuracies[task.index])
      finishedReports.append(report)
      try progress(.taskFinished(report))
      TensorStorage.releaseFreeMemory()
    }
    return ContinualResult(
      scenario: scenario.name, scenarioHash: scenario.hash, policy: policy.name,
      seed: scenario.training.seed, dataset: scenario.dataset.name,
      storedSamples: storedSamples, tasks: stream.tasks.map(\.classes), reports: finishedReports,
      experts: records)
  }

  /// The policy's spawning, reusing and class assignment before `task`; every expert still
  /// trainable is then trained on (and may predict) the task's classes, except one spawned
  /// for `task` that the policy already gave classes.
  private func applyPolicy(before task: ContinualTask) throws {
    // Experts added to `model` by the user between tasks get their record here.
    storedRecords = records
    try policy.prepare(for: task, in: self)
    // And those the policy added or froze through `model` itself.
    storedRecords = records
    for (index, record) in storedRecords.enumerated() where record.frozenAtTask == nil {
      if record.spawnedAtTask == task.index && !record.classes.isEmpty { continue }
      storedRecords[index].classes = Self.merging(record.classes, task.classes)
    }
  }

  /// The head of a class-incremental evaluation after `task`: the classes seen so far,
  /// each expert restricted to the classes it was trained on.
  func classIncrementalHead(through task: Int) -> OutputHead {
    OutputHead(
      allowedClasses: stream.classesSeen(through: task), expertClasses: records.map(\.classes))
  }
}
