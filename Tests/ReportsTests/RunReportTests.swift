import Checkpoints
import Continual
import Experiments
import Foundation
import Testing
import _ContinualTestSupport
import _TestSupport

@testable import Reports

/// Trains the tiny three-task stream under `policy`, checkpointed into `directory`.
private func tinyRun(in directory: String, policy: PolicyName = .spawnAndFreeze) throws {
  let scenario = try tinyScenario()
  _ = try ContinualExperiment(
    scenario: scenario, stream: try tinyStream(for: scenario), checkpointDirectory: directory,
    policy: policy, toolVersion: "test"
  ).run()
}

@Test func aReportOfOneRunIsWrittenWithoutTheTool() throws {
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("checkpoints")
  try tinyRun(in: checkpoints)
  let report = try RunReport(input: checkpoints)
  #expect(report.runs.map(\.name) == [""])
  #expect(report.runs[0].file == "\(checkpoints)/latest.h5")
  #expect(report.figureCount == 6)

  let out = directory.path("report")
  try report.write(to: out)
  let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
  #expect(
    files == [
      "accuracy-class-il.svg", "accuracy-curves.svg", "accuracy-task-il.svg",
      "decomposition.svg", "expert-usage.svg", "index.html", "loss.svg", "summary.md",
    ])
  for file in files where file.hasSuffix(".svg") {
    let document = try String(contentsOfFile: "\(out)/\(file)", encoding: .utf8)
    #expect(parseXML(document).error == nil, "\(file)")
  }
  // Spawned and frozen experts are marked.
  let decomposition = try String(contentsOfFile: "\(out)/decomposition.svg", encoding: .utf8)
  #expect(decomposition.contains(">after T2<") && decomposition.contains(">new<"))
  #expect(!decomposition.contains(">after T3<"))
  #expect(decomposition.contains(">frozen<"))
  let markdown = try String(contentsOfFile: "\(out)/summary.md", encoding: .utf8)
  #expect(markdown.hasPrefix("# Report: \(checkpoints)\n\n## tiny, spawn-and-freeze\n"))
  #expect(markdown.contains("policy `spawn-and-freeze`, 3 of 3 tasks finished, 3 experts."))
  #expect(markdown.contains("![Gate decomposition per task](decomposition.svg)"))

  // The same figures, one at a time, as the report draws them.
  let figures = RunFigures(summary: report.runs[0].summary)
  // Classes are named by the scenario's dataset (the tiny scenario's is the default one).
  #expect(figures.classNames.first == "0 T-shirt/top")
  #expect(
    try String(contentsOfFile: "\(out)/loss.svg", encoding: .utf8) == figures.lossCurve().render())

  // Written again over the report: its files are replaced, others kept.
  try "notes".write(toFile: "\(out)/notes.txt", atomically: true, encoding: .utf8)
  try report.write(to: out)
  #expect(FileManager.default.fileExists(atPath: "\(out)/notes.txt"))
  #expect(try String(contentsOfFile: "\(out)/summary.md", encoding: .utf8) == markdown)
}

@Test func severalRunsGetOneDirectoryOfFiguresEach() throws {
  let directory = try TemporaryDirectory()
  let runs = directory.path("runs")
  try tinyRun(in: "\(runs)/freeze", policy: .spawnAndFreeze)
  try tinyRun(in: "\(runs)/shared", policy: .shared)
  let report = try RunReport(input: runs)
  #expect(report.runs.map(\.name) == ["freeze", "shared"])
  #expect(report.figureCount == 12)
  let out = directory.path("report")
  try report.write(to: out)
  for run in ["freeze", "shared"] {
    #expect(FileManager.default.fileExists(atPath: "\(out)/\(run)/decomposition.svg"), "\(run)")
  }
  let markdown = try String(contentsOfFile: "\(out)/summary.md", encoding: .utf8)
  #expect(markdown.contains("## shared\n") && markdown.contains("(shared/loss.svg)"))
}

@Test func reportInputsThatHoldNoCheckpointAreErrors() throws {
  let directory = try TemporaryDirectory()
  #expect(throws: ReportError.self) { _ = try RunReport(input: directory.path("absent")) }
  do {
    _ = try RunReport(input: directory.url.path)
    Issue.record("an empty directory was accepted")
  } catch let error as ReportError {
    #expect(error.description.hasPrefix("\(directory.url.path): holds no checkpoint"))
  }
  try "x".write(toFile: directory.path("file"), atomically: true, encoding: .utf8)
  #expect(throws: HDF5Error.self) { _ = try RunReport(input: directory.path("file")) }
}

@Test func checkpointSummariesReadAsTextAndJSON() throws {
  let directory = try TemporaryDirectory()
  try tinyRun(in: directory.url.path)
  let summary = try Checkpoint.summary(of: directory.path("latest.h5"))
  let text = summary.text()
  #expect(text.hasPrefix("\(summary.path): checkpoint format "))
  #expect(text.contains("class-IL accuracy (%), row = after task, column = task:"))
  #expect(text.contains("after task 0: ") && text.contains("after task 2: "))
  #expect(!text.contains("after task 3: "))
  let third = summary.text(task: 2)
  #expect(!third.contains("class-IL accuracy (%)") && !third.contains("after task 0: "))
  #expect(third.contains("after task 2: ") && third.contains("  p(expert | class), shaded"))

  let object = try #require(
    try JSONSerialization.jsonObject(with: Data(summary.json(task: 2).utf8)) as? [String: Any])
  #expect(object["policy"] as? String == "spawn-and-freeze")
  #expect((object["scenario"] as? [String: Any])?["name"] as? String == "tiny")
  #expect((object["history"] as? [[String: Any]])?.map { $0["task"] as? Int } == [2])
}

@Test func tablesAlignTheirColumns() {
  #expect(formatTable([["a", "bb"], ["ccc", "d"]]) == "a    bb\nccc   d")
  #expect(formatTable([]) == "")
}
