import Checkpoints
import Continual
import Datasets
import Experiments
import Foundation
import Sweeps
import Testing
import _ContinualTestSupport
import _TestSupport

@testable import Reports

/// The report of the tiny three-task run, written into `directory/report`; returns its
/// directory.
private func tinyRunReport(in directory: TemporaryDirectory) throws -> String {
  let scenario = try tinyScenario()
  let checkpoints = directory.path("checkpoints")
  _ = try ContinualExperiment(
    scenario: scenario, stream: try tinyStream(for: scenario), checkpointDirectory: checkpoints,
    toolVersion: "test"
  ).run()
  let out = directory.path("report")
  try RunReport(input: checkpoints).write(to: out)
  return out
}

/// A two-policy × two-seed sweep of a tiny continual scenario on generated images, run into
/// `directory/sweep`, and its report written into `directory/sweep-report`; returns the
/// report and its directory.
private func tinySweepReport(in directory: TemporaryDirectory) throws -> (RunReport, String) {
  let sweep = try writeTinySweep(into: directory.url.path)
  let runner = try SweepRunner(
    plan: try SweepPlan.load(sweep), directory: directory.path("sweep"),
    loadDatasets: { _ in
      (try bands(count: 60, split: .train, seed: 1), try bands(count: 24, split: .test, seed: 2))
    })
  _ = try runner.run()
  let report = try RunReport(input: directory.path("sweep"))
  let out = directory.path("sweep-report")
  try report.write(to: out)
  return (report, out)
}

/// The inline `<svg>` elements of an HTML page, in order.
private func figures(of html: String) -> [String] {
  var found: [String] = []
  var rest = html[...]
  while let start = rest.range(of: "<svg"),
    let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex)
  {
    found.append(String(rest[start.lowerBound..<end.upperBound]))
    rest = rest[end.upperBound...]
  }
  return found
}

/// How many times `part` occurs in `text`.
private func occurrences(of part: String, in text: String) -> Int {
  text.components(separatedBy: part).count - 1
}

@Test func aRunsPageIsOneSelfContainedFileWithItsTablesAndFigures() throws {
  let directory = try TemporaryDirectory()
  let out = try tinyRunReport(in: directory)
  let html = try String(contentsOfFile: "\(out)/index.html", encoding: .utf8)
  #expect(html.hasPrefix("<!DOCTYPE html>"))
  #expect(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
  // Self-contained: no script, nothing loaded from elsewhere.
  for markup in ["<script", "src=", "<link", "<img", "href=\"http", "url("] {
    #expect(!html.contains(markup), "\(markup)")
  }
  #expect(figures(of: html).count == RunFigures.figureCount)
  for figure in figures(of: html) { #expect(parseXML(figure).error == nil) }
  let summary = try Checkpoint.summary(of: directory.path("checkpoints/latest.h5"))
  #expect(html.contains(summary.scenarioHash))
  // The class order with the dataset's names, the matrices, routing and events.
  #expect(html.contains("<td>T1</td><td>2 Pullover, 3 Dress</td>"))
  #expect(html.contains("<p class=\"caption\">Class-incremental accuracy (%)</p>"))
  #expect(html.contains("<p class=\"caption\">Task-incremental accuracy (%)</p>"))
  #expect(html.contains("oracle class-IL acc") && html.contains("routing acc"))
  #expect(html.contains("task 2: expert 2 spawned"))
  // One run, no overview: no link back.
  #expect(!html.contains("all runs"))
}

@Test func textIsEscapedInPages() {
  #expect(HTMLPage.escape("<b> & \"q\" 'a'") == "&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos;")
  var page = HTMLPage(title: "a < b")
  page.table(header: ["x<y"], rows: [["1 & 2"]])
  let html = page.render()
  #expect(
    ["-12.5", "96.0 ± 1.2", "65.7 %", "0.1 s", "1.548 bits", "–"].allSatisfy(HTMLPage.isNumber))
  #expect(
    !["#1", "after T0", "2 Pullover, 3 Dress", "", "1 & 2"].contains(where: HTMLPage.isNumber))
  #expect(html.contains("<title>a &lt; b</title>"))
  #expect(html.contains("<th>x&lt;y</th>") && html.contains("<td>1 &amp; 2</td>"))
}

@Test func aSweepsOverviewLinksToEveryRunsPage() throws {
  let directory = try TemporaryDirectory()
  let (report, out) = try tinySweepReport(in: directory)
  #expect(report.sweepRecords.count == 4 && report.runs.count == 4 && report.hasOverview)
  let html = try String(contentsOfFile: "\(out)/index.html", encoding: .utf8)
  #expect(figures(of: html).count == RunReport.overviewFigureCount)
  #expect(html.contains("<h1>Sweep: sweep</h1>"))
  // Groups of runs that differ only in the seed, mean ± std over the two seeds.
  #expect(
    html.contains("<tr><td>spawn-and-freeze</td><td class=\"n\">2</td><td class=\"n\">0</td>"))
  #expect(html.contains("<tr><td>shared</td><td class=\"n\">2</td>") && html.contains(" ± "))
  for record in report.sweepRecords {
    let page = "runs/\(record.runID)/index.html"
    #expect(html.contains("<a href=\"\(page)\">\(record.runID)</a>"), "\(page)")
    let runPage = try String(contentsOfFile: "\(out)/\(page)", encoding: .utf8)
    #expect(figures(of: runPage).count == RunFigures.figureCount)
    #expect(runPage.contains("<a href=\"../../index.html\">← all runs</a>"))
  }
}

/// Opens the pages of a run's report and of a sweep's report in headless Chromium
/// (Debian's `chromium`), the way a reader's browser would, and checks what it shows.
///
/// For each page: its DOM after load (`--dump-dom`) holds the expected number of `<svg>`
/// figures, Chromium logged no console message for it (the pages have no script, so any
/// message is the browser complaining), and its screenshot is not blank. The page itself
/// cannot say where its figures landed without JavaScript, so every figure is also drawn
/// alone: the test lays the page's `<svg>` elements out on a sheet of fixed cells (one
/// figure scaled into each), screenshots it, decodes the PNG and checks that every cell has
/// ink — a figure Chromium could not draw leaves its cell white.
///
/// Without `chromium` the test is skipped, except in CI (`CI=true`, as `.ci/run` sets it),
/// where it fails.
@Test(
  .enabled(
    if: HeadlessChromium.executable != nil || HeadlessChromium.isCI,
    "needs Debian's chromium (apt-get install chromium)"))
func chromiumRendersEveryFigureOfARunAndASweepWithoutConsoleErrors() throws {
  let executable = try #require(
    HeadlessChromium.executable, "CI=true but chromium is not installed (apt-get install chromium)")
  let directory = try TemporaryDirectory()
  let chromium = HeadlessChromium(executable: executable, scratch: directory.url.path)
  let run = try tinyRunReport(in: directory)
  let (_, sweep) = try tinySweepReport(in: directory)
  let pages = [
    ("\(run)/index.html", RunFigures.figureCount),
    ("\(sweep)/index.html", RunReport.overviewFigureCount),
  ]
  for (page, expected) in pages {
    let loaded = try chromium.load(page, width: 1200, height: 3000)
    #expect(loaded.consoleMessages == [], "\(page)")
    #expect(occurrences(of: "<svg ", in: loaded.output) == expected, "\(page)")
    #expect(!loaded.output.contains("<script"), "\(page)")

    let screenshot = directory.path("page.png")
    let shown = try chromium.load(page, width: 1200, height: 3000, screenshot: screenshot)
    #expect(shown.consoleMessages == [], "\(page)")
    let image = try DecodedPNG(contentsOf: screenshot)
    #expect(image.width == 1200 && image.height == 3000)
    #expect(image.inkShare(x: 0, y: 0, width: 1200, height: 3000) > 0.02, "\(page) is blank")

    // Every figure alone in a fixed cell of a sheet.
    let inline = figures(of: try String(contentsOfFile: page, encoding: .utf8))
    #expect(inline.count == expected)
    let (cellWidth, cellHeight, gap) = (560, 400, 20)
    let cells = inline.enumerated().map { index, figure in
      let (left, top) = (gap + index % 2 * (cellWidth + gap), gap + index / 2 * (cellHeight + gap))
      return "<div style=\"position:absolute;left:\(left)px;top:\(top)px;width:\(cellWidth)px;"
        + "height:\(cellHeight)px\">"
        + figure.replacingOccurrences(of: "<svg ", with: "<svg style=\"width:100%;height:100%\" ")
        + "</div>"
    }
    let sheet = directory.path("sheet.html")
    try
      ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
      + "<body style=\"margin:0;background:#fff\">" + cells.joined() + "</body></html>")
      .write(toFile: sheet, atomically: true, encoding: .utf8)
    let rows = (inline.count + 1) / 2
    let sheetShot = directory.path("sheet.png")
    _ = try chromium.load(
      sheet, width: 2 * (cellWidth + gap) + gap, height: rows * (cellHeight + gap) + gap,
      screenshot: sheetShot)
    let sheetImage = try DecodedPNG(contentsOf: sheetShot)
    for index in inline.indices {
      let ink = sheetImage.inkShare(
        x: gap + index % 2 * (cellWidth + gap), y: gap + index / 2 * (cellHeight + gap),
        width: cellWidth, height: cellHeight)
      #expect(ink > 0.01, "figure \(index + 1) of \(page) is blank (ink \(ink))")
    }
    // A blank cell reads as blank: the check can fail.
    #expect(sheetImage.inkShare(x: 0, y: 0, width: gap, height: gap) < 0.001)
  }
}
