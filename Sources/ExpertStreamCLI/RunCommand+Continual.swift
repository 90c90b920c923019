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
    var tasksDone = 0
    let results = try comparison.run(
      from: !resume ? .firstTask : resumeFile.map { .checkpoint($0) } ?? .newestCheckpoint,
      metricsFile: metricsPath
    ) { event in
      switch event {
      case .started(let run):
        tasksDone = 0
        logStart(run, train: train, log: log)
      case .experiment(let run, let event):
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
          self.report(progress, log: log, names: train.classNames)
        }
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
        log.event(
          "run", encoding: result.metrics, adding: ["checkpoints": directory],
          text: "checkpoints in \(directory)")
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

  private func logStart(_ run: ContinualComparison.Run, train: Dataset, log: EventLog) {
    let scenario = run.scenario
    log.event(
      "start",
      [
        "scenario": scenario.name, "scenario_hash": scenario.hash,
        "policy": run.policy.rawValue, "seed": scenario.training.seed,
        "tasks": scenario.classGroups, "threads": Compute.threads,
        "evaluated_on": scenario.dataset.evaluateOn.rawValue,
        "numerics": BLAS.numericsDescription,
        "data_directory": train.source?.directory ?? NSNull(),
      ],
      text: "\(scenario.name): policy \(run.policy), seed \(scenario.training.seed), "
        + "\(run.experiment.stream.tasks.count) tasks, \(scenario.model.expert) experts, "
        + "\(scenario.model.gate) gate, \(Compute.threads) threads, "
        + "\(BLAS.numerics.rawValue) numerics, "
        + "evaluated on the \(scenario.dataset.evaluateOn.rawValue) samples\n"
        + "class order: " + scenario.classGroups.map { "\($0)" }.joined(separator: " ")
        + "\nscenario hash \(scenario.hash)\ndata from \(train.source?.directory ?? "memory")")
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
}
