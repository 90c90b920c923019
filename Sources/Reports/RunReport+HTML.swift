import Checkpoints
import Continual
import Foundation
import Sweeps

extension RunReport {
  // MARK: - HTML

  /// How many figures the overview page draws (``overviewHTML()``): one bar chart.
  public static let overviewFigureCount = 1

  /// The report's overview page, `index.html` when ``hasOverview``: a table with a link to
  /// each run's page and its final numbers, and a bar chart of them.
  ///
  /// For a sweep, a table of mean ± std over seeds per group of runs comes first; then the
  /// table has a row per record of `results.jsonl` (grid order) with the run's settings,
  /// status and metrics, its run linked when its checkpoints were found, and the chart
  /// shows the sweep's main metric per run; otherwise it has a row per run
  /// with its final accuracies. The page is self-contained, as the runs' pages.
  public func overviewHTML() -> String {
    sweepRecords.isEmpty ? runsOverview() : sweepOverview()
  }

  /// The page of every run, by its path relative to the report's directory, and the
  /// overview page when there is one.
  public func htmlPages() -> [(path: String, html: String)] {
    var pages = runs.map { run in
      let path = pagePath(of: run)
      let depth = path.split(separator: "/").count - 1
      return (
        path,
        RunFigures(summary: run.summary).html(
          source: run.file,
          overview: hasOverview ? String(repeating: "../", count: depth) + "index.html" : nil)
      )
    }
    if hasOverview { pages.append(("index.html", overviewHTML())) }
    return pages
  }

  /// A row per run: its link, scenario, policy and final accuracies.
  private func runsOverview() -> String {
    var page = HTMLPage(title: "Report \(input)")
    page.heading("Report: \(input)", level: 1)
    page.paragraph("\(runs.count) run(s), each drawn from its newest checkpoint.")
    var rows: [[String]] = []
    var finalAccuracy: [Double] = []
    for (index, run) in runs.enumerated() {
      let figures = RunFigures(summary: run.summary)
      let last = run.summary.tasks.last
      let classIL = last.map { figures.mean($0.accuracyClassIL) }
      finalAccuracy.append(100 * (classIL ?? 0))
      rows.append([
        "#\(index + 1)",
        HTMLPage.link(run.name.isEmpty ? "(top)" : run.name, to: pagePath(of: run)),
        figures.scenarioName, run.summary.policy,
        "\(run.summary.tasks.count)/\(run.summary.taskClasses.count)",
        Self.percent(classIL), Self.percent(last.map { figures.mean($0.accuracyTaskIL) }),
        Self.percent(last.map { figures.mean($0.oracleAccuracyClassIL) }),
        Self.percent(last?.routingAccuracy),
      ])
    }
    page.table(
      header: [
        "#", "run", "scenario", "policy", "tasks", "class-IL acc", "task-IL acc",
        "oracle class-IL acc", "routing acc",
      ], rows: rows, caption: "After each run's last finished task", markupColumns: [1])
    page.figure(
      StackedBarChart(
        title: "Average class-IL accuracy after the last task", xTitle: "run (# of the table)",
        yTitle: "accuracy (%)", categories: runs.indices.map { "#\($0 + 1)" },
        series: [("class-IL accuracy", finalAccuracy)], yMaximum: 100
      ).draw(), caption: "Average class-IL accuracy per run")
    return page.render()
  }

  /// A row per sweep record: settings, status, metrics and the run's link.
  private func sweepOverview() -> String {
    let name = URL(fileURLWithPath: input).standardized.lastPathComponent
    var page = HTMLPage(title: "Sweep \(name)")
    page.heading("Sweep: \(name)", level: 1)
    let failed = sweepRecords.filter { $0.status == .failed }.count
    page.paragraph(
      "\(sweepRecords.count) run(s) recorded in \(input)/results.jsonl, \(failed) failed; "
        + "\(runs.count) with checkpoints. A run's page shows its figures and tables.")
    page.table(
      header: [
        "group", "runs", "failed", "task-IL acc (%)", "class-IL acc (%)",
        "class-IL BWT (points)", "oracle class-IL acc (%)", "routing acc (%)",
      ], rows: sweepGroupRows,
      caption: "Mean ± std over seeds, per group of runs that differ only in the seed")
    let pages = Dictionary(
      runs.map { ($0.name, pagePath(of: $0)) }, uniquingKeysWith: { first, _ in first })
    let rows = sweepRecords.enumerated().map { index, record -> [String] in
      let settings = record.settings.set.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
      let link = pages["runs/\(record.runID)"].map { HTMLPage.link(record.runID, to: $0) }
      var row = [
        "#\(index + 1)", link ?? HTMLPage.escape(record.runID),
        HTMLPage.escape(
          ([record.settings.configuration, record.settings.variant].compactMap { $0 }
            + settings).joined(separator: ", ")),
        "\(record.settings.seed)", record.status.rawValue,
      ]
      if case .continual(let metrics) = record.metrics {
        row += [
          Self.percent(metrics.averageAccuracyTaskIL), Self.percent(metrics.averageAccuracyClassIL),
          String(format: "%.1f", 100 * metrics.bwtClassIL),
          Self.percent(metrics.oracleAccuracyClassIL), Self.percent(metrics.routingAccuracy),
        ]
      } else if case .paper(let metrics) = record.metrics {
        row += [String(format: "test error %.4f", metrics.testError), "", "", "", ""]
      } else {
        row += [HTMLPage.escape(record.error ?? "–"), "", "", "", ""]
      }
      return row + [String(format: "%.1f s", record.seconds)]
    }
    page.table(
      header: [
        "#", "run", "settings", "seed", "status", "task-IL acc", "class-IL acc",
        "class-IL BWT (points)", "oracle class-IL acc", "routing acc", "time",
      ], rows: rows, caption: "Every run of the sweep, in grid order",
      markupColumns: Set(0..<11))
    let main = sweepRecords.map { $0.metrics?.main }
    let (metricName, _, unit) = main.lazy.compactMap { $0 }.first ?? ("metric", 0, "")
    let largest = main.compactMap { $0?.value }.filter(\.isFinite).max() ?? 1
    page.figure(
      StackedBarChart(
        title: "\(name): \(metricName) per run", xTitle: "run (# of the table)",
        yTitle: metricName + (unit.isEmpty ? "" : " (%)"),
        categories: sweepRecords.indices.map { "#\($0 + 1)" },
        series: [(metricName, main.map { $0?.value ?? 0 })],
        yMaximum: unit.isEmpty ? max(largest, 1e-9) * 1.1 : 100
      ).draw(), caption: "\(metricName) per run (none where a run failed)")
    return page.render()
  }

  /// One row per group of sweep records with the same settings but the seed (grid order of
  /// each group's first record): the group, its runs and failures, and the mean ± std of
  /// its finished continual runs' metrics in %.
  private var sweepGroupRows: [[String]] {
    var order: [String] = []
    var members: [String: [SweepRecord]] = [:]
    for record in sweepRecords {
      let settings = record.settings
      let name =
        ([
          settings.configuration == settings.variant ? nil : settings.configuration,
          settings.variant,
        ]
        .compactMap { $0 } + settings.set.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        .joined(separator: ", ")
      if members[name] == nil { order.append(name) }
      members[name, default: []].append(record)
    }
    return order.map { name in
      let records = members[name] ?? []
      let metrics = records.compactMap { record -> ContinualMetrics? in
        if case .continual(let metrics) = record.metrics, record.status == .finished {
          return metrics
        }
        return nil
      }
      func column(_ value: (ContinualMetrics) -> Double?) -> String {
        let values = metrics.compactMap(value).filter(\.isFinite).map { 100 * $0 }
        return values.isEmpty ? "–" : PaperReport.meanAndDeviation(values, digits: 1)
      }
      return [
        name, "\(records.count)", "\(records.filter { $0.status == .failed }.count)",
        column(\.averageAccuracyTaskIL), column(\.averageAccuracyClassIL), column(\.bwtClassIL),
        column(\.oracleAccuracyClassIL), column(\.routingAccuracy),
      ]
    }
  }

  /// A share as a percentage with one decimal, `–` when missing or not a number.
  private static func percent(_ share: Double?) -> String {
    guard let share, share.isFinite else { return "–" }
    return String(format: "%.1f %%", 100 * share)
  }
}
