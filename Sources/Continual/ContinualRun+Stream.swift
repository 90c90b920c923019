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
      let logStart = model.lifecycleLog.count
      try applyPolicy(before: task)
      let before = try taskAccuracy(task)
      try progress(
        .taskStarted(
          task: task.index, of: stream.tasks.count, classes: task.classes,
          events: Array(model.lifecycleLog[logStart...])))
      var (seconds, losses) = try train(task, progress: progress)
      try finish(task)
      seconds += try trainGateOnReplay(through: task)
      var report = try evaluate(
        after: task, seconds: seconds, loss: losses.last ?? 0,
        events: Array(model.lifecycleLog[logStart...]))
      report.epochLosses = losses
      report.forwardTransferTerms = (before, initialAccuracies[task.index])
      finishedReports.append(report)
      try progress(.taskFinished(report))
    }
    return ContinualResult(
      scenario: scenario.name, scenarioHash: scenario.hash, policy: policy,
      seed: scenario.training.seed, tasks: stream.tasks.map(\.classes), reports: finishedReports,
      experts: records)
  }

  /// Spawns or reuses experts before `task`; every expert still trainable is then trained
  /// on (and may predict) the task's classes.
  private func applyPolicy(before task: ContinualTask) throws {
    // Experts added to `model` by the user between tasks get their record here.
    storedRecords = records
    if task.index > 0, policy == .spawnAndFreeze || policy == .reuseOrSpawn {
      let fitting =
        policy == .reuseOrSpawn
        ? try records.indices.filter { records[$0].frozenAtTask != nil }.filter {
          try validationAccuracy(expert: $0, on: task) >= scenario.lifecycle.reuseThreshold
        } : []
      for index in fitting {
        storedRecords[index].classes = mergeClasses(storedRecords[index].classes, task.classes)
      }
      if fitting.isEmpty {
        for _ in 0..<scenario.lifecycle.expertsPerTask {
          let id = try model.addExpert(try makeExpert(&generator), using: &generator)
          storedRecords.append(
            ExpertRecord(id: id, spawnedAtTask: task.index, frozenAtTask: nil, classes: []))
        }
      }
    }
    for index in storedRecords.indices where storedRecords[index].frozenAtTask == nil {
      storedRecords[index].classes = mergeClasses(storedRecords[index].classes, task.classes)
    }
  }

  /// Freezes what the policy freezes after `task`, and records the task's routing.
  private func finish(_ task: ContinualTask) throws {
    if policy == .spawnAndFreeze || policy == .reuseOrSpawn {
      for index in storedRecords.indices where storedRecords[index].frozenAtTask == nil {
        try model.freeze(expert: index)
        storedRecords[index].frozenAtTask = task.index
      }
      if scenario.lifecycle.gate == .rowsFrozen, model.gate is SoftmaxGate {
        try model.freezeGate(rows: Array(records.indices))
      }
    }
    if policy == .ewc { try updateFisher(task) }
  }

  private func mergeClasses(_ a: [Int], _ b: [Int]) -> [Int] { a + b.filter { !a.contains($0) } }

  /// The head of a class-incremental evaluation after `task`: the classes seen so far,
  /// each expert restricted to the classes it was trained on.
  func classIncrementalHead(through task: Int) -> OutputHead {
    OutputHead(
      allowedClasses: stream.classesSeen(through: task), expertClasses: records.map(\.classes))
  }
}
