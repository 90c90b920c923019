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
            "scenario": scenario.name, "scenario_hash": scenario.hash, "policy": policy.rawValue,
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
          scenario: scenario, stream: stream, checkpointDirectory: directory)
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
          try FileSystem.writeAtomically(try JSONOutput.data(object, pretty: true), to: metricsPath)
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
          policy.rawValue, "\(runs.count)",
          column { ContinualResult.averageAccuracy($0.accuracyMatrixTaskIL) },
          column { ContinualResult.averageAccuracy($0.accuracyMatrixClassIL) },
          column { ContinualResult.backwardTransfer($0.accuracyMatrixClassIL) },
          column { ContinualResult.forgetting($0.accuracyMatrixClassIL) },
          column { ContinualResult.averageAccuracy($0.reports.map(\.oracleAccuracyClassIL)) },
          PolicyName.baselines.contains(policy)
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
        + (PolicyName.baselines.contains(result.policy)
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
