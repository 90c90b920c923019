import Continual
import Datasets
import Experiments
import Foundation
import Reports

extension RunCommand {
  func runContinual(_ scenario: Scenario, _ console: Console) throws {
    let started = Date()
    let log = log(console)
    let (train, test) = try scenario.loadDatasets(dataDirectory: dataDirectory)
    let comparison = ContinualComparison(
      scenario: scenario, policies: policies, seeds: seeds ?? 1, train: train, test: test)
    if resume && comparison.runs.count > 1 {
      throw UsageError(
        "--resume continues one run", hint: "give at most one --policy and no --seeds")
    }
    let tensorBoard = TensorBoardLog(directory: logDirectory)
    var tasksDone = 0
    let results = try comparison.run(
      from: !resume ? .firstTask : resumeFile.map { .checkpoint($0) } ?? .newestCheckpoint,
      metricsFile: metricsPath
    ) { event in
      try tensorBoard.record(event)
      switch event {
      case .started(let run):
        tasksDone = 0
        log.entry(run.startEntry(train: train))
      case .experiment(let run, let event):
        if case .resumed(_, let done, _) = event { tasksDone = done }
        if case .progress(let progress) = event {
          if case .taskFinished = progress { tasksDone += 1 }
          if case .batch(
            let task, let epoch, let done, let of, let samples, let loss, let seconds) =
            progress
          {
            log.bar(
              Self.progressBar(
                "  task \(task) epoch \(epoch)", done: done, of: of, samples: samples, loss: loss,
                seconds: seconds))
          }
        }
        if let entry = event.logEntry(classNames: train.classNames) { log.entry(entry) }
        let directory = run.experiment.checkpointDirectory
        guard !console.isOutputClosed else {
          throw OutputClosedError(
            stoppedAt: tasksDone == 0
              ? "the run stopped before its first task finished"
              : "the run stopped after \(tasksDone) of \(run.experiment.stream.tasks.count) "
                + "tasks; their checkpoints in \(directory) are complete (continue with --resume)")
        }
      case .finished(let run, let result):
        let directory = run.experiment.checkpointDirectory
        log.entry(result.logEntry(checkpoints: directory))
        if log.format == .text {
          console.print(result.summaryText(evaluatedOn: run.scenario.dataset.evaluateOn))
        }
      }
    }
    if results.count > 1 && logFormat == .text {
      console.print("")
      console.print("Summary (accuracy in %, mean ± std over seeds):")
      console.print(
        formatTable(
          ContinualResult.summaryTable(
            results, policies: policies ?? [scenario.lifecycle.policy])))
    }
    if let metricsPath { log.result("metrics written to \(metricsPath)") }
    logFinished(log, started: started)
  }
}
