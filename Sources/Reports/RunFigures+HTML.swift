import Checkpoints
import Foundation

extension RunFigures {
  // MARK: - Page

  /// The run's page of a report's HTML: the scenario, the class order and scenario hash,
  /// the accuracy matrices as tables and figures, the gate decomposition per task, routing
  /// and oracle accuracy per task, the lifecycle events, the experts and the training
  /// curves.
  ///
  /// The page is one self-contained file: its ``RunFigures/figureCount`` figures are inline SVG, it has
  /// no script and loads nothing. `source` is the checkpoint drawn, as the page names it;
  /// `overview`, when given, is the relative link of the report's overview page. A run with
  /// no finished task has no tables of results.
  public func html(source: String, overview: String? = nil) -> String {
    var page = HTMLPage(title: "Run \(title)")
    if let overview { page.raw("<p>" + HTMLPage.link("← all runs", to: overview) + "</p>") }
    page.heading("Run: \(title)", level: 1)
    page.paragraph(
      "From \(source): scenario \(scenarioName), policy \(summary.policy), "
        + "\(summary.tasks.count) of \(summary.taskClasses.count) tasks finished, "
        + "\(summary.experts.count) experts; written by expertstream \(summary.toolVersion)"
        + (summary.numerics.map { ", numerics \($0)" } ?? "") + ".")

    page.heading("Scenario and class order")
    page.paragraph("Scenario hash (SHA-256 of the resolved scenario): \(summary.scenarioHash)")
    page.table(
      header: ["task", "classes"],
      rows: summary.taskClasses.enumerated().map { task, classes in
        [
          "T\(task)",
          classes.map { $0 < classNames.count ? classNames[$0] : "\($0)" }
            .joined(separator: ", "),
        ]
      }, caption: "Class order: the classes of each task, in stream order")
    page.details("Scenario file (resolved)", preformatted: prettyScenario)

    if let last = summary.tasks.last {
      page.heading("After the last task")
      page.table(
        header: ["measure", "value"],
        rows: [
          ["average class-IL accuracy", percent(mean(last.accuracyClassIL))],
          ["average task-IL accuracy", percent(mean(last.accuracyTaskIL))],
          ["class-IL accuracy with oracle routing", percent(mean(last.oracleAccuracyClassIL))],
          ["routing accuracy", last.routingAccuracy.map(percent) ?? "–"],
          ["expert usage entropy", String(format: "%.3f bits", last.usageEntropy)],
          ["per-class routing entropy", String(format: "%.3f bits", last.classEntropy)],
          [
            "training time, all tasks",
            String(format: "%.1f s", summary.tasks.map(\.trainingSeconds).reduce(0, +)),
          ],
        ])
    }

    page.heading("Accuracy matrices")
    page.paragraph(
      "Row i, column j: accuracy (%) on task j's test set after training task i; "
        + "blank where task j was not trained yet.")
    page.table(
      header: [""] + summary.tasks.indices.map(taskLabel),
      rows: accuracyRows(\.accuracyClassIL), caption: "Class-incremental accuracy (%)")
    page.figure(accuracyMap(classIncremental: true), caption: "Class-incremental accuracy matrix")
    page.table(
      header: [""] + summary.tasks.indices.map(taskLabel),
      rows: accuracyRows(\.accuracyTaskIL), caption: "Task-incremental accuracy (%)")
    page.figure(accuracyMap(classIncremental: false), caption: "Task-incremental accuracy matrix")
    page.table(
      header: [""] + summary.tasks.indices.map(taskLabel),
      rows: accuracyRows(\.oracleAccuracyClassIL),
      caption: "Class-incremental accuracy with oracle routing (%): each sample sent to the "
        + "expert that holds its class")

    page.heading("Routing per task")
    page.table(
      header: [
        "after task", "class-IL acc", "oracle class-IL acc", "routing acc", "usage entropy",
        "class entropy", "routing forgetting", "training",
      ],
      rows: summary.tasks.map { record in
        [
          taskLabel(record.task), percent(mean(record.accuracyClassIL)),
          percent(mean(record.oracleAccuracyClassIL)),
          record.routingAccuracy.map(percent) ?? "–",
          String(format: "%.3f bits", record.usageEntropy),
          String(format: "%.3f bits", record.classEntropy),
          String(format: "%.3f", record.routingForgetting),
          String(format: "%.1f s", record.trainingSeconds),
        ]
      },
      caption: "Averages over the tasks seen; routing accuracy: the share of test samples "
        + "whose highest-weight expert holds their class")
    // One map per row: three side by side shrink below reading size on a phone.
    page.figure(decompositions(perRow: 1), caption: "Gate decomposition per task")

    page.heading("Experts and lifecycle events")
    page.table(
      header: ["expert", "kind", "parameters", "spawned for", "frozen", "classes"],
      rows: summary.experts.enumerated().map { index, expert in
        [
          "\(index) (\(expert.name))", expert.kind, "\(expert.parameterCount)",
          "T\(expert.spawnedAtTask)",
          expert.frozenAtTask.map { $0 < 0 ? "before T0" : "after T\($0)" } ?? "no",
          expert.classes.map(String.init).joined(separator: ", "),
        ]
      })
    let events = summary.tasks.map { record in
      "<li>" + HTMLPage.escape(taskLabel(record.task)) + ": "
        + HTMLPage.escape(record.events.isEmpty ? "no event" : record.events) + "</li>"
    }
    page.raw("<ul>\n" + events.joined(separator: "\n") + "\n</ul>")
    page.figure(expertUsage(), caption: "Expert usage over tasks")

    page.heading("Over the stream")
    page.figure(accuracyCurves(), caption: "Accuracy over the stream")
    page.figure(lossCurve(), caption: "Training loss")
    return page.render()
  }

  /// One row per finished task of the matrix `row` reads: its label and the accuracies in
  /// %, blank for tasks not trained yet.
  private func accuracyRows(_ row: KeyPath<Checkpoint.Summary.TaskSummary, [Double]>)
    -> [[String]]
  {
    summary.tasks.map { record in
      let values = record[keyPath: row]
      return ["after T\(record.task)"]
        + summary.tasks.indices.map {
          $0 < values.count ? String(format: "%.1f", 100 * values[$0]) : ""
        }
    }
  }

  /// The scenario as indented JSON, or as stored when it is not JSON.
  private var prettyScenario: String {
    guard let object = try? JSONSerialization.jsonObject(with: Data(summary.scenario.utf8)),
      let data = try? JSONSerialization.data(
        withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    else { return summary.scenario }
    return String(decoding: data, as: UTF8.self)
  }

  /// A share as a percentage with one decimal.
  private func percent(_ share: Double) -> String {
    String(format: "%.1f %%", 100 * share)
  }
}
