import Foundation

extension RunFigures {
  // MARK: - Summary

  /// The run's section of a report's `summary.md`, as lines: a heading, where the run comes
  /// from, a table of its final numbers and the figures with their captions.
  ///
  /// `heading` defaults to the scenario and policy; `figures` are the paths of the files
  /// ``write(to:)`` wrote, relative to the markdown file. A run with no finished task has no
  /// table.
  public func markdown(heading: String?, source: String, figures: [String]) -> [String] {
    var lines: [String] = []
    lines.append("## " + (heading ?? title))
    lines.append("")
    lines.append(
      "From `\(source)`: scenario `\(scenarioName)` (hash \(summary.scenarioHash.prefix(12))), "
        + "policy `\(summary.policy)`, \(summary.tasks.count) of \(summary.taskClasses.count) "
        + "tasks finished, \(summary.experts.count) experts.")
    lines.append("")
    if let last = summary.tasks.last {
      lines.append("| after the last task | value |")
      lines.append("| --- | --- |")
      lines.append(
        String(format: "| average class-IL accuracy | %.1f %% |", 100 * mean(last.accuracyClassIL)))
      lines.append(
        String(format: "| average task-IL accuracy | %.1f %% |", 100 * mean(last.accuracyTaskIL)))
      lines.append(
        String(
          format: "| class-IL accuracy with oracle routing | %.1f %% |",
          100 * mean(last.oracleAccuracyClassIL)))
      lines.append(String(format: "| expert usage entropy | %.3f bits |", last.usageEntropy))
      lines.append(String(format: "| per-class routing entropy | %.3f bits |", last.classEntropy))
      lines.append(
        String(
          format: "| training time, all tasks | %.1f s |",
          summary.tasks.map(\.trainingSeconds).reduce(0, +)))
      lines.append("")
    }
    let captions = [
      "Class-incremental accuracy matrix", "Task-incremental accuracy matrix",
      "Gate decomposition per task", "Expert usage over tasks", "Accuracy over the stream",
      "Training loss",
    ]
    for (caption, figure) in zip(captions, figures) {
      lines.append("![\(caption)](\(figure))")
      lines.append("")
    }
    return lines
  }
}
