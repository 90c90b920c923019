import Checkpoints
import Datasets
import Foundation
import Reports

/// `expertstream report FILE_OR_DIR --out DIR`: SVG figures and a `summary.md` of one or
/// more continual runs, from their checkpoints.
struct ReportCommand: Command {
  static let configuration = CommandConfiguration(
    name: "report",
    summary: "Write SVG figures and a summary.md of continual runs from their checkpoints.",
    usage: ["report FILE_OR_DIR --out DIR"],
    options: [
      .option(
        "--out", "DIR",
        "Where to write the figures and summary.md (created; existing figures are replaced)."),
      .flag("--quiet", "Print nothing but errors."),
    ],
    examples: [
      "expertstream report checkpoints/split-fashion-mnist --out reports/split-fashion-mnist"
    ],
    positionals: 1...1)

  let input: String
  let output: String
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    input = arguments.positionals[0]
    guard let output = arguments.value("--out") else {
      throw UsageError(
        "report needs an output directory", hint: "add '--out DIR', e.g. '--out reports/run'")
    }
    self.output = output
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    let runs = try Self.checkpoints(under: input)
    let summaries = try runs.map { try Checkpoint.summary(of: $0.file) }
    // Written into a staging directory and moved into place, so a failure leaves no
    // half-written report.
    let fileManager = FileManager.default
    let target = URL(fileURLWithPath: output).standardized
    // Checked first, so an unusable --out says where and why.
    try FileSystem.createDirectory(target.deletingLastPathComponent().path)
    try FileSystem.checkWritable(target.deletingLastPathComponent().path)
    let staging = URL(fileURLWithPath: FileSystem.temporaryPath(for: target.path))
    try? fileManager.removeItem(at: staging)
    do {
      var markdown = ["# Report: \(input)", ""]
      for (run, summary) in zip(runs, summaries) {
        let directory =
          run.name.isEmpty ? staging : staging.appendingPathComponent(run.name)
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        let figures = try RunFigures(summary: summary)
        let written = try figures.write(to: directory.path)
        markdown += figures.markdown(
          heading: run.name.isEmpty ? nil : run.name, source: run.file,
          figures: written.map { run.name.isEmpty ? $0 : "\(run.name)/\($0)" })
      }
      try Data(markdown.joined(separator: "\n").utf8).write(
        to: staging.appendingPathComponent("summary.md"))
      if fileManager.fileExists(atPath: target.path) {
        try replaceReport(at: target, with: staging)
      } else {
        try fileManager.moveItem(at: staging, to: target)
      }
    } catch {
      try? fileManager.removeItem(at: staging)
      throw error
    }
    if !quiet {
      console.print(
        "report of \(runs.count) run(s) written to \(output)/summary.md "
          + "(\(runs.count * RunFigures.figureCount) SVG figures)")
    }
  }

  /// Moves the staged report's files over an existing directory, keeping files the report
  /// does not write.
  private func replaceReport(at target: URL, with staging: URL) throws {
    let fileManager = FileManager.default
    guard let enumerator = fileManager.enumerator(atPath: staging.path) else { return }
    for case let relative as String in enumerator {
      let source = staging.appendingPathComponent(relative)
      var isDirectory: ObjCBool = false
      _ = fileManager.fileExists(atPath: source.path, isDirectory: &isDirectory)
      let destination = target.appendingPathComponent(relative)
      if isDirectory.boolValue {
        try fileManager.createDirectory(at: destination, withIntermediateDirectories: true)
      } else {
        if fileManager.fileExists(atPath: destination.path) {
          try fileManager.removeItem(at: destination)
        }
        try fileManager.moveItem(at: source, to: destination)
      }
    }
    try fileManager.removeItem(at: staging)
  }

  /// The checkpoints a report covers: the file itself, or under a directory each run
  /// directory's `latest.h5` (or its newest `task_NNN.h5`), named by its path below the
  /// directory.
  ///
  /// - Throws: ``ReportError`` when the path does not exist or holds no checkpoint.
  static func checkpoints(under path: String) throws -> [(name: String, file: String)] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ReportError(path: path, message: "no such file or directory")
    }
    guard isDirectory.boolValue else { return [("", path)] }
    // Every directory (the root included) that holds a checkpoint is one run.
    let root = URL(fileURLWithPath: path).standardized
    var runs: Set<String> = []
    let enumerator = FileManager.default.enumerator(atPath: root.path)
    while let relative = enumerator?.nextObject() as? String {
      let name = (relative as NSString).lastPathComponent
      if CheckpointDirectory.isCheckpointName(name) {
        runs.insert((relative as NSString).deletingLastPathComponent)
      }
    }
    // Checkpoints are named under `path` as the user gave it (the summary quotes them).
    let found = runs.sorted().map { run in
      (
        run,
        CheckpointDirectory.newestCheckpoint(
          in: run.isEmpty ? path : (path as NSString).appendingPathComponent(run))
      )
    }
    guard !found.isEmpty else {
      throw ReportError(
        path: path,
        message:
          "holds no checkpoint (latest.h5 or task_NNN.h5); run 'expertstream run SCENARIO' first")
    }
    return found
  }
}

/// A report input that is missing or holds no checkpoint.
struct ReportError: UserInputError {
  let path: String
  let message: String
  var description: String { "\(path): \(message)" }
}

/// The figures of one continual run, drawn from its checkpoint summary.
struct RunFigures {
  /// How many SVG files ``write(to:)`` writes.
  static let figureCount = 6

  let summary: Checkpoint.Summary
  let scenarioName: String
  let classNames: [String]
  let classCount: Int

  init(summary: Checkpoint.Summary) throws {
    self.summary = summary
    let scenario =
      (try? JSONSerialization.jsonObject(with: Data(summary.scenario.utf8))) as? [String: Any]
    scenarioName = scenario?["name"] as? String ?? "run"
    classCount = summary.tasks.last?.decomposition.first?.count ?? 0
    let datasetName = (scenario?["dataset"] as? [String: Any])?["name"] as? String
    let names = datasetName.flatMap { try? DatasetRegistry.descriptor(named: $0).classNames }
    classNames =
      names?.count == classCount
      ? names!.enumerated().map { "\($0.offset) \($0.element)" }
      : (0..<classCount).map(String.init)
  }

  private var title: String { "\(scenarioName), \(summary.policy)" }

  private func taskLabel(_ task: Int) -> String {
    let classes = task < summary.taskClasses.count ? summary.taskClasses[task] : []
    return "T\(task + 1) (" + classes.map(String.init).joined(separator: ",") + ")"
  }

  /// Writes the figures into `directory`; returns their file names.
  func write(to directory: String) throws -> [String] {
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

  /// The accuracy matrix R[i][j] (after task i, on task j) in %.
  func accuracyMap(classIncremental: Bool) -> SVGCanvas {
    let tasks = summary.tasks.count
    let values: [[Double?]] = summary.tasks.map { record in
      let row = classIncremental ? record.accuracyClassIL : record.accuracyTaskIL
      return (0..<tasks).map { $0 < row.count ? 100 * row[$0] : nil }
    }
    var map = HeatMap(
      title: "\(classIncremental ? "Class" : "Task")-incremental accuracy (%): \(title)",
      rowLabels: (0..<tasks).map { "after T\($0 + 1)" },
      columnLabels: (0..<tasks).map(taskLabel), values: values,
      rowTitle: "trained up to", columnTitle: "evaluated on task (classes)", range: 0...100,
      unit: "%", formatValue: { String(format: "%.1f", $0) })
    map.cellSize = 64
    return map.draw()
  }

  /// p(expert | class) on the test set after each task, side by side (three per row);
  /// experts spawned in the task are marked "new", frozen ones outlined and marked.
  func decompositions() -> SVGCanvas {
    let maps = summary.tasks.map { record -> SVGCanvas in
      let seen = Set(summary.taskClasses.prefix(record.task + 1).flatMap { $0 })
      let experts = record.decomposition.count
      var map = HeatMap(
        title: "after T\(record.task + 1)",
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
    let perRow = 3
    let cellWidth = maps.map(\.width).max() ?? 0
    let cellHeight = maps.map(\.height).max() ?? 0
    let rows = (maps.count + perRow - 1) / perRow
    let columns = min(maps.count, perRow)
    var canvas = SVGCanvas(
      width: max(cellWidth * Double(columns), 500), height: 60 + cellHeight * Double(rows))
    canvas.text(
      "Gate decomposition p(expert | class) on the test set: \(title)", x: canvas.width / 2,
      y: 22, size: 15, anchor: .middle, bold: true)
    canvas.text(
      "new = spawned for this task; dashed outline = frozen while this task trained; "
        + "grey = class not seen yet",
      x: canvas.width / 2, y: 42, size: 11, anchor: .middle, color: "#555")
    for (index, map) in maps.enumerated() {
      canvas.place(
        map, x: Double(index % perRow) * cellWidth, y: 56 + Double(index / perRow) * cellHeight)
    }
    return canvas
  }

  /// The share of test samples each expert gets the highest gate weight for, per task.
  func expertUsage() -> SVGCanvas {
    let experts = summary.tasks.map(\.expertUsage.count).max() ?? 0
    let series = (0..<experts).map { expert -> (name: String, values: [Double]) in
      let spawned = expert < summary.experts.count ? summary.experts[expert].spawnedAtTask : 0
      return (
        "expert \(expert) (from T\(spawned + 1))",
        summary.tasks.map { expert < $0.expertUsage.count ? $0.expertUsage[expert] : 0 }
      )
    }
    return StackedBarChart(
      title: "Expert usage over tasks: \(title)", xTitle: "after task",
      yTitle: "share of test samples (argmax expert)",
      categories: summary.tasks.map { "T\($0.task + 1)" }, series: series
    ).draw()
  }

  /// Accuracy on each task as the stream goes on, and the averages.
  func accuracyCurves() -> SVGCanvas {
    let tasks = summary.tasks
    var series = [
      Series(
        name: "average class-IL",
        points: tasks.map { (Double($0.task + 1), 100 * mean($0.accuracyClassIL)) },
        color: "#222"),
      Series(
        name: "average task-IL",
        points: tasks.map { (Double($0.task + 1), 100 * mean($0.accuracyTaskIL)) }, dashed: true,
        color: "#222"),
    ]
    for task in 0..<tasks.count {
      series.append(
        Series(
          name: "class-IL on \(taskLabel(task))",
          points: tasks.filter { $0.accuracyClassIL.count > task }.map {
            (Double($0.task + 1), 100 * $0.accuracyClassIL[task])
          }, color: Palette.series(task)))
    }
    return LineChart(
      title: "Test accuracy over the stream: \(title)", xTitle: "after training task",
      yTitle: "accuracy (%)", series: series, yRange: 0...100,
      xTicks: tasks.map { (Double($0.task + 1), "T\($0.task + 1)") }
    ).draw()
  }

  /// The mean training loss of every epoch, tasks one after another, one line per task.
  func lossCurve() -> SVGCanvas {
    var series: [Series] = []
    var markers: [(x: Double, label: String)] = []
    var epoch = 0
    for record in summary.tasks {
      markers.append((Double(epoch) + 0.5, "T\(record.task + 1)"))
      let points = record.epochLosses.map { loss -> (x: Double, y: Double) in
        epoch += 1
        return (Double(epoch), loss)
      }
      series.append(
        Series(
          name: "task \(taskLabel(record.task))", points: points,
          color: Palette.series(record.task)))
    }
    var chart = LineChart(
      title: "Training loss per epoch: \(title)", xTitle: "epoch (all tasks in order)",
      yTitle: "mean training loss (nats)", series: series,
      xTicks: epoch <= 30 ? (1...max(epoch, 1)).map { (Double($0), "\($0)") } : nil)
    chart.markers = markers
    return chart.draw()
  }

  /// The run's section of `summary.md`.
  func markdown(heading: String?, source: String, figures: [String]) -> [String] {
    let last = summary.tasks.last
    var lines: [String] = []
    lines.append("## " + (heading ?? title))
    lines.append("")
    lines.append(
      "From `\(source)`: scenario `\(scenarioName)` (hash \(summary.scenarioHash.prefix(12))), "
        + "policy `\(summary.policy)`, \(summary.tasks.count) of \(summary.taskClasses.count) "
        + "tasks finished, \(summary.experts.count) experts.")
    lines.append("")
    if let last {
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

  private func mean(_ values: [Double]) -> Double {
    values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
  }
}
