import Checkpoints
import Foundation
import Sweeps

// MARK: - Files

extension SweepSummary {
  /// Writes `summary.md` and `main_metric.svg` into `directory`.
  ///
  /// - Throws: ``FileSystemError`` naming the file that cannot be written and why.
  public func write(to directory: String) throws {
    let (name, unit, groups) = mainMetricMeans
    let chart = StackedBarChart(
      title: "\(plan.name): \(name), mean over seeds", xTitle: "group",
      yTitle: name + (unit.isEmpty ? "" : " (%)"), categories: groups.map(\.name),
      series: [(name: name, values: groups.map(\.mean))],
      yMaximum: max(groups.map(\.mean).max() ?? 1, unit.isEmpty ? 0 : 100)
        * (unit.isEmpty ? 1.1 : 1))
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
