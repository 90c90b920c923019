import Foundation

extension ContinualResult {
  // MARK: - One run

  /// The run's results for people: the task-IL and class-IL accuracy matrices (in %), the
  /// averages, transfer and forgetting, the experts, and p(expert | class) after the last
  /// task; `split` names the samples evaluated on.
  ///
  /// Routing accuracy is left out for the baselines without a gate.
  public func summaryText(evaluatedOn split: Scenario.EvaluationSplit) -> String {
    let percent = { (value: Double) in String(format: "%.1f", 100 * value) }
    var lines = [
      "",
      "\(policy), seed \(seed): accuracy matrices on the \(split.rawValue) samples "
        + "(%; row = after task, column = task)",
    ]
    for (title, matrix) in [("task-IL", accuracyMatrixTaskIL), ("class-IL", accuracyMatrixClassIL)]
    {
      var rows = [[title] + (0..<matrix.count).map { "T\($0)" }]
      for (index, row) in matrix.enumerated() {
        rows.append(
          ["after T\(index)"] + row.map(percent)
            + Array(repeating: "", count: matrix.count - row.count))
      }
      lines.append(formatTable(rows))
    }
    let classIL = accuracyMatrixClassIL
    lines.append(
      "average accuracy: task-IL \(percent(Self.averageAccuracy(accuracyMatrixTaskIL)))%, "
        + "class-IL \(percent(Self.averageAccuracy(classIL)))%; "
        + "class-IL BWT \(percent(Self.backwardTransfer(classIL))) points, "
        + "forgetting \(percent(Self.forgetting(classIL))) points; "
        + "oracle-routing class-IL \(percent(Self.averageAccuracy(reports.map(\.oracleAccuracyClassIL))))%; "
        + (PolicyName.baselines.contains(policy)
          ? "" : "routing accuracy \(percent(reports.last?.routingAccuracy ?? 0))%; ")
        + "task-IL forward transfer \(percent(forwardTransferTaskIL)) points")
    for expert in experts {
      lines.append(
        "expert \(expert.id): spawned at task \(expert.spawnedAtTask)"
          + (expert.frozenAtTask.map {
            $0 < 0 ? ", frozen before task 0" : ", frozen after task \($0)"
          } ?? ", trainable")
          + ", classes \(expert.classes)")
    }
    if let last = reports.last {
      lines.append("p(expert | class) after the last task, \(split.rawValue) samples:")
      var rows = [["expert"] + (0..<last.routing.classes).map { "\($0)" }]
      for (index, row) in last.routing.decomposition.enumerated() {
        rows.append(["\(index)"] + row.map { String(format: "%.2f", $0) })
      }
      lines.append(formatTable(rows))
    }
    return lines.joined(separator: "\n")
  }

  // MARK: - Several runs

  /// One row per policy of `policies` (after a header): its runs in `results`, then the
  /// mean ± std over them of the accuracies, transfer, forgetting and routing, in %.
  ///
  /// Routing accuracy is `-` for the baselines without a gate.
  public static func summaryTable(_ results: [ContinualResult], policies: [PolicyName])
    -> [[String]]
  {
    var rows = [
      [
        "policy", "seeds", "task-IL acc", "class-IL acc", "class-IL BWT", "class-IL forgetting",
        "oracle class-IL", "routing acc", "routing forgetting",
      ]
    ]
    for policy in policies {
      let runs = results.filter { $0.policy == policy }
      func column(_ value: (ContinualResult) -> Double) -> String {
        PaperReport.meanAndDeviation(runs.map { 100 * value($0) }, digits: 1)
      }
      rows.append([
        policy.rawValue, "\(runs.count)",
        column { averageAccuracy($0.accuracyMatrixTaskIL) },
        column { averageAccuracy($0.accuracyMatrixClassIL) },
        column { backwardTransfer($0.accuracyMatrixClassIL) },
        column { forgetting($0.accuracyMatrixClassIL) },
        column { averageAccuracy($0.reports.map(\.oracleAccuracyClassIL)) },
        PolicyName.baselines.contains(policy)
          ? "-" : column { $0.reports.last?.routingAccuracy ?? 0 },
        column { $0.metrics.routingForgetting },
      ])
    }
    return rows
  }
}
