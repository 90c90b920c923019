import Continual
import Datasets
import Foundation
import Sweeps
import Testing
import _ContinualTestSupport
import _TestSupport

/// A two-policy × two-seed sweep of a tiny continual scenario in a temporary directory.
private func tinySweep() throws -> (TemporaryDirectory, SweepPlan) {
  let directory = try TemporaryDirectory()
  let sweep = try writeTinySweep(into: directory.url.path)
  return (directory, try SweepPlan.load(sweep))
}

/// Generated images instead of the scenario's dataset files.
private func bandImages(_ scenario: Scenario) throws -> (train: Dataset, test: Dataset) {
  (try bands(count: 60, split: .train, seed: 1), try bands(count: 24, split: .test, seed: 2))
}

@Test func aSweepRunsEveryRunStoresItsRecordAndSummarizes() throws {
  let (directory, plan) = try tinySweep()
  let runner = try SweepRunner(
    plan: plan, directory: directory.path("out"), loadDatasets: bandImages)
  var started: [String] = []
  var stored: [Int] = []
  let summary = try #require(
    try runner.run { event in
      if case .runStarted(let run) = event { started.append(run.id) }
      if case .stored(let done, _, _, _) = event { stored.append(done) }
    })
  #expect(started == plan.runs.map(\.id))
  #expect(stored == [1, 2, 3, 4])
  #expect(summary.records.map(\.index) == [0, 1, 2, 3])
  #expect(summary.records.allSatisfy { $0.status == .finished && $0.timing != nil })
  #expect(summary.failedCount == 0)
  try summary.checkNoneFailed(directory: directory.path("out"))
  guard case .continual(let metrics) = summary.records[0].metrics else {
    Issue.record("expected continual metrics")
    return
  }
  #expect(metrics.trainingSeconds == nil, "timings are kept under timing")
  #expect(summary.records[0].timing?.trainingSeconds?.count == 2)
  #expect(summary.table.contains("spawn-and-freeze") && summary.table.contains("±"))
  // results.jsonl holds the records' lines, in grid order.
  let lines = try String(contentsOfFile: directory.path("out/results.jsonl"), encoding: .utf8)
    .split(separator: "\n")
  #expect(try lines.map { try SweepRecord(json: Data($0.utf8)) } == summary.records)
  // The summary's files are the caller's to write (Reports' SweepSummary.write(to:)).
  #expect(!FileManager.default.fileExists(atPath: directory.path("out/summary.md")))
  // Run again: nothing left to train, the same records.
  var rerun: [String] = []
  let again = try runner.run { if case .runStarted(let run) = $0 { rerun.append(run.id) } }
  #expect(rerun.isEmpty)
  #expect(again?.records == summary.records)
}

@Test func aFailedRunIsRecordedAndTheSweepGoesOn() throws {
  struct Missing: Error, CustomStringConvertible {
    var description: String { "no images" }
  }
  let (directory, plan) = try tinySweep()
  let runner = try SweepRunner(
    plan: plan, directory: directory.path("out"),
    loadDatasets: { _ in throw Missing() })
  var ended: [SweepRecord.Status] = []
  let summary = try #require(
    try runner.run { if case .runEnded(_, let record) = $0 { ended.append(record.status) } })
  #expect(ended == [.failed, .failed, .failed, .failed])
  #expect(summary.records.count == 4 && summary.failedCount == 4)
  #expect(summary.records[2].error == "no images")
  #expect(summary.records[2].metrics == nil)
  #expect(summary.table.contains("–"))
  #expect(throws: SweepFailedError.self) {
    try summary.checkNoneFailed(directory: directory.path("out"))
  }
  let line = String(decoding: try summary.records[2].line(), as: UTF8.self)
  #expect(line.hasPrefix(#"{"error":"no images","index":2,"run_id":""#))
  #expect(!line.contains("metrics") && !line.contains("timing"))
}

@Test func aRecordRoundTripsThroughItsLine() throws {
  let (directory, plan) = try tinySweep()
  _ = directory
  let record = SweepRecord(
    finished: plan.runs[1],
    metrics: .continual(
      try ContinualRun(scenario: tinyScenario(), stream: tinyStream(for: tinyScenario())).run()
        .metrics),
    seconds: 1.25)
  let decoded = try SweepRecord(json: try record.line())
  #expect(decoded == record)
  #expect(decoded.settings.seed == plan.runs[1].seed)
  #expect(decoded.settings.variant == "spawn-and-freeze")
  #expect(decoded.metrics?.main.name == "class-IL accuracy")
}

@Test func aRunMovedByAGrownGridIsRecordedAtItsNewPlace() throws {
  let (directory, plan) = try tinySweep()
  let output = directory.path("out")
  _ = try SweepRunner(plan: plan, directory: output, loadDatasets: bandImages).run()
  // Shuffled axis values move runs without adding any: results.jsonl follows the new grid.
  try """
  {"scenario": "tiny.json", "axes": {"policy": ["shared", "spawn-and-freeze"], "seed": [0, 1]}}
  """.write(toFile: directory.path("sweep.json"), atomically: true, encoding: .utf8)
  let shuffled = try SweepPlan.load(directory.path("sweep.json"))
  _ = try SweepRunner(plan: shuffled, directory: output, loadDatasets: bandImages).run()
  let reordered = try String(contentsOfFile: "\(output)/results.jsonl", encoding: .utf8)
    .split(separator: "\n").map { try SweepRecord(json: Data($0.utf8)) }
  #expect(reordered.map(\.runID) == shuffled.runs.map(\.id))
  #expect(reordered.map(\.index) == Array(0..<4))
  // A third seed in the grid moves every run but the first policy's first two.
  try """
  {"scenario": "tiny.json", "axes": {"policy": ["spawn-and-freeze", "shared"], "seed": [0, 1, 2]}}
  """.write(toFile: directory.path("sweep.json"), atomically: true, encoding: .utf8)
  let grown = try SweepPlan.load(directory.path("sweep.json"))
  var started: [String] = []
  let summary = try #require(
    try SweepRunner(plan: grown, directory: output, loadDatasets: bandImages).run {
      if case .runStarted(let run) = $0 { started.append(run.id) }
    })
  #expect(started == [grown.runs[2].id, grown.runs[5].id])
  #expect(summary.records.map(\.index) == Array(0..<6))
  #expect(summary.records.map(\.runID) == grown.runs.map(\.id))
  let lines = try String(contentsOfFile: "\(output)/results.jsonl", encoding: .utf8)
    .split(separator: "\n")
  #expect(try lines.map { try SweepRecord(json: Data($0.utf8)).index } == Array(0..<6))
}
