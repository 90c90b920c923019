import Checkpoints
import Continual
import Foundation
import Reports
import Sweeps

/// A sweep's `summary.md` and figure: per group of runs (same settings but the seed), the
/// main metrics' mean ± std over seeds, and for paper sweeps the paper's best-of-N rule.
struct SweepSummary {
  let plan: SweepPlan
  /// The stored records, in grid order.
  let records: [[String: Any]]

  /// Metric keys that measure time, not results: kept out of `metrics` so records of the
  /// same run compare equal whatever the machine, rank or interruption.
  static func isTiming(_ key: String) -> Bool {
    key.contains("seconds") || key.contains("samples_per_second")
  }

  /// `metrics` split into the deterministic part and the timings.
  static func separatingTimings(_ metrics: [String: Any]) -> ([String: Any], [String: Any]) {
    (
      metrics.filter { !isTiming($0.key) },
      metrics.filter { isTiming($0.key) }
    )
  }

  /// The metric a sweep is judged by: test error for paper runs, class-IL average
  /// accuracy (else task-IL) for continual runs; name, value and unit.
  static func mainMetric(_ metrics: [String: Any]) -> (String, Double, String) {
    if let error = metrics["test_error"] as? Double { return ("test error", error, "") }
    if let accuracy = metrics["average_accuracy_class_il"] as? Double {
      return ("class-IL accuracy", 100 * accuracy, " %")
    }
    return (
      "task-IL accuracy", 100 * (metrics["average_accuracy_task_il"] as? Double ?? .nan), " %"
    )
  }

  private var isPaper: Bool { plan.mode == .paper }

  /// The columns: header and metric key (× 100 for accuracies).
  private var columns: [(header: String, key: String, scale: Double)] {
    isPaper
      ? [
        ("train error", "train_error", 1), ("test error", "test_error", 1),
        ("H_u (bits)", "H_u", 1), ("I(E;Y) pred (bits)", "mi_pred", 1),
      ]
      : [
        ("task-IL acc (%)", "average_accuracy_task_il", 100),
        ("class-IL acc (%)", "average_accuracy_class_il", 100),
        ("class-IL BWT (points)", "bwt_class_il", 100),
        ("oracle class-IL (%)", "oracle_accuracy_class_il", 100),
        ("routing acc (%)", "routing_accuracy", 100),
      ]
  }

  /// Runs per group, in grid order of each group's first run.
  private var groups: [(name: String, runs: [SweepRun], records: [[String: Any]])] {
    var order: [String] = []
    var members: [String: [(SweepRun, [String: Any])]] = [:]
    let byIndex = Dictionary(
      records.compactMap { record in (record["index"] as? Int).map { ($0, record) } },
      uniquingKeysWith: { a, _ in a })
    for run in plan.runs {
      if members[run.group] == nil { order.append(run.group) }
      if let record = byIndex[run.index] { members[run.group, default: []].append((run, record)) }
    }
    return order.map { name in
      let list = members[name] ?? []
      return (name, list.map(\.0), list.map(\.1))
    }
  }

  /// How many stored runs failed.
  var failedCount: Int { records.filter { $0["status"] as? String == "failed" }.count }

  private static func finishedMetrics(_ records: [[String: Any]]) -> [[String: Any]] {
    records.filter { $0["status"] as? String == "finished" }
      .compactMap { $0["metrics"] as? [String: Any] }
  }

  /// Mean ± std over seeds per group (and, for paper sweeps, the best-of-N rule), as text.
  var table: String {
    var rows = [["group", "runs", "failed"] + columns.map(\.header)]
    for group in groups {
      let metrics = Self.finishedMetrics(group.records)
      rows.append(
        [
          group.name, "\(group.records.count)/\(group.runs.count + missing(group.name))",
          "\(group.records.count - metrics.count)",
        ]
          + columns.map { column in
            let values = metrics.compactMap {
              ($0[column.key] as? Double).map { $0 * column.scale }
            }
            return values.isEmpty
              ? "–" : PaperReport.meanAndDeviation(values, digits: column.scale == 100 ? 1 : 4)
          })
    }
    var text = formatTable(rows)
    if isPaper {
      var best = [["group", "seed (lowest train error)", "train error", "test error"]]
      for group in groups {
        let finished = zip(group.runs, group.records).filter {
          $0.1["status"] as? String == "finished"
        }
        guard
          let pick = finished.min(by: {
            trainError($0.1) < trainError($1.1)
          })
        else { continue }
        let metrics = pick.1["metrics"] as? [String: Any] ?? [:]
        best.append([
          group.name, "\(pick.0.seed)",
          String(format: "%.4f", metrics["train_error"] as? Double ?? .nan),
          String(format: "%.4f", metrics["test_error"] as? Double ?? .nan),
        ])
      }
      text += "\n\nThe paper's rule (per group, the seed with the lowest training error):\n"
      text += formatTable(best)
    }
    return text
  }

  private func trainError(_ record: [String: Any]) -> Double {
    (record["metrics"] as? [String: Any])?["train_error"] as? Double ?? .infinity
  }

  /// Runs of `group` not yet stored (0 once the sweep is complete).
  private func missing(_ group: String) -> Int {
    let stored = Set(records.compactMap { $0["index"] as? Int })
    return plan.runs.filter { $0.group == group && !stored.contains($0.index) }.count
  }

  /// Writes `summary.md` and `main_metric.svg` into `directory`.
  func write(to directory: String) throws {
    let (name, _, unit) =
      records.lazy.compactMap { $0["metrics"] as? [String: Any] }.first
      .map(Self.mainMetric) ?? ("metric", 0, "")
    let means = groups.map { group -> Double in
      let values = Self.finishedMetrics(group.records).map { Self.mainMetric($0).1 }
      return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }
    let chart = StackedBarChart(
      title: "\(plan.name): \(name), mean over seeds", xTitle: "group",
      yTitle: name + (unit.isEmpty ? "" : " (%)"), categories: groups.map(\.name),
      series: [(name: name, values: means)],
      yMaximum: max(means.max() ?? 1, unit.isEmpty ? 0 : 100) * (unit.isEmpty ? 1.1 : 1))
    try chart.draw().write(to: "\(directory)/main_metric.svg")
    let markdown = """
      # Sweep \(plan.name)

      \(plan.runs.count) runs of `\(plan.scenarioPath)` (\(plan.mode)); \(records.count) stored, \
      \(failedCount) failed. Mean ± std over seeds; one row per group of runs that differ only in \
      the seed.

      ```
      \(table)
      ```

      ![\(name) per group](main_metric.svg)

      Every run's settings, status and metrics: `results.jsonl` (one JSON object per line, in \
      grid order; timings under `timing` and `seconds`).

      """
    try FileSystem.writeAtomically(Data(markdown.utf8), to: "\(directory)/summary.md")
  }
}
