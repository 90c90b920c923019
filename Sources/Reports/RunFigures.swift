import Checkpoints
import Datasets
import Foundation

/// The figures of one continual run, drawn from its checkpoint's summary: the class- and
/// task-incremental accuracy matrices, the gate decomposition after each task, the experts'
/// usage, the accuracy over the stream and the training loss.
///
/// Classes are named by the scenario's dataset when it is registered and has as many classes
/// as the decompositions have columns, and numbered otherwise; a scenario without a `name`
/// is titled `run`.
public struct RunFigures {
  /// How many SVG files ``write(to:)`` writes.
  public static let figureCount = 6

  /// The summary the figures are drawn from.
  public let summary: Checkpoint.Summary
  /// The scenario's `name`, or `run` when it has none.
  public let scenarioName: String
  /// A label per class: its number and dataset name (`1 Trouser`), or its number alone.
  public let classNames: [String]

  /// The figures of the run `summary` describes.
  public init(summary: Checkpoint.Summary) {
    self.summary = summary
    let scenario =
      (try? JSONSerialization.jsonObject(with: Data(summary.scenario.utf8))) as? [String: Any]
    scenarioName = scenario?["name"] as? String ?? "run"
    let classCount = summary.tasks.last?.decomposition.first?.count ?? 0
    let datasetName = (scenario?["dataset"] as? [String: Any])?["name"] as? String
    let names = datasetName.flatMap { try? DatasetRegistry.descriptor(named: $0).classNames }
    classNames =
      names?.count == classCount
      ? names!.enumerated().map { "\($0.offset) \($0.element)" }
      : (0..<classCount).map(String.init)
  }

  /// The run's name in titles: scenario and policy.
  var title: String { "\(scenarioName), \(summary.policy)" }

  /// `T2 (2,3)`: a task's number from 1 and its classes.
  func taskLabel(_ task: Int) -> String {
    let classes = task < summary.taskClasses.count ? summary.taskClasses[task] : []
    return "T\(task) (" + classes.map(String.init).joined(separator: ",") + ")"
  }

  // MARK: - Files

  /// Writes the figures into `directory` and returns their file names, in the order
  /// ``markdown(heading:source:figures:)`` captions them.
  ///
  /// Files of the same names are replaced.
  ///
  /// - Throws: the error of a file that cannot be written (the directory must exist).
  public func write(to directory: String) throws -> [String] {
    let figures: [(String, SVGCanvas)] = [
      ("accuracy-class-il.svg", accuracyMap(classIncremental: true)),
      ("accuracy-task-il.svg", accuracyMap(classIncremental: false)),
      ("decomposition.svg", decompositions()),
      ("expert-usage.svg", expertUsage()),
      ("accuracy-curves.svg", accuracyCurves()),
      ("loss.svg", lossCurve()),
    ]
    for (name, canvas) in figures { try canvas.write(to: "\(directory)/\(name)") }
    return figures.map(\.0)
  }

  // MARK: - Heat-maps

  /// The accuracy matrix R[i][j] (after task i, on task j) in %.
  ///
  /// Cells of tasks not yet trained when the row's task finished are left grey.
  public func accuracyMap(classIncremental: Bool) -> SVGCanvas {
    let tasks = summary.tasks.count
    let values: [[Double?]] = summary.tasks.map { record in
      let row = classIncremental ? record.accuracyClassIL : record.accuracyTaskIL
      return (0..<tasks).map { $0 < row.count ? 100 * row[$0] : nil }
    }
    var map = HeatMap(
      title: "\(classIncremental ? "Class" : "Task")-incremental accuracy (%): \(title)",
      rowLabels: (0..<tasks).map { "after T\($0)" },
      columnLabels: (0..<tasks).map(taskLabel), values: values,
      rowTitle: "trained up to", columnTitle: "evaluated on task (classes)", range: 0...100,
      unit: "%", formatValue: { String(format: "%.1f", $0) })
    map.cellSize = 64
    return map.draw()
  }

  /// p(expert | class) on the test set after each task, side by side (`perRow` per row).
  ///
  /// Experts spawned in the task are marked "new", frozen ones outlined and marked; classes
  /// not seen yet are grey. One per row keeps each map readable on a phone's screen.
  public func decompositions(perRow: Int = 3) -> SVGCanvas {
    let maps = summary.tasks.map { record -> SVGCanvas in
      let seen = Set(summary.taskClasses.prefix(record.task + 1).flatMap { $0 })
      let experts = record.decomposition.count
      var map = HeatMap(
        title: "after T\(record.task)",
        rowLabels: (0..<experts).map { "expert \($0)" }, columnLabels: classNames,
        values: record.decomposition.map { row in
          row.enumerated().map { seen.contains($0.offset) ? $0.element : nil }
        },
        rowTitle: "expert", columnTitle: "class", range: 0...1, unit: "p(e|y)",
        formatValue: { String(format: "%.2f", $0) })
      map.cellSize = 34
      for expert in 0..<experts where expert < summary.experts.count {
        let info = summary.experts[expert]
        if info.spawnedAtTask == record.task {
          map.rowNotes[expert] = "new"
        } else if let frozen = info.frozenAtTask, frozen < record.task {
          map.rowNotes[expert] = "frozen"
          map.outlinedRows.insert(expert)
        }
      }
      return map.draw()
    }
    let perRow = max(perRow, 1)
    let cellWidth = maps.map(\.width).max() ?? 0
    let columns = min(maps.count, perRow)
    // Each row is as tall as its tallest map.
    let rowHeights = stride(from: 0, to: maps.count, by: perRow).map { start in
      maps[start..<min(start + perRow, maps.count)].map(\.height).max() ?? 0
    }
    let width = max(cellWidth * Double(columns), 500)
    // A heading that does not fit the width takes a line per part.
    func lines(_ parts: [String], size: Double) -> [String] {
      let whole = parts.joined()
      return SVGCanvas.textWidth(whole, size: size) + 20 <= width ? [whole] : parts
    }
    let titleLines = lines(
      ["Gate decomposition p(expert | class) on the test set: ", title], size: 15)
    let noteLines = lines(
      [
        "new = spawned for this task; ", "dashed outline = frozen while this task trained; ",
        "grey = class not seen yet",
      ], size: 11)
    let noteTop = 22 + 20 * Double(titleLines.count)
    let top = noteTop + 16 * Double(noteLines.count - 1) + 14
    var canvas = SVGCanvas(width: width, height: top + 4 + rowHeights.reduce(0, +))
    for (index, line) in titleLines.enumerated() {
      canvas.text(
        line, x: width / 2, y: 22 + 20 * Double(index), size: 15, anchor: .middle, bold: true)
    }
    for (index, line) in noteLines.enumerated() {
      canvas.text(
        line, x: width / 2, y: noteTop + 16 * Double(index), size: 11, anchor: .middle,
        color: "#555")
    }
    for (index, map) in maps.enumerated() {
      let row = index / perRow
      canvas.place(
        map, x: Double(index % perRow) * cellWidth, y: top + rowHeights[..<row].reduce(0, +))
    }
    return canvas
  }
}
