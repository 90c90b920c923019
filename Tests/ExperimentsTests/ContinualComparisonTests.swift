import Continual
import Datasets
import Experiments
import Foundation
import Testing
import _ContinualTestSupport
import _TestSupport

/// The tiny scenario checkpointing under `directory`, and its generated datasets.
private func tinyComparison(
  in directory: TemporaryDirectory, policies: [PolicyName]? = nil, seeds: Int = 1
) throws -> ContinualComparison {
  var scenario = try tinyScenario()
  scenario.checkpoint.directory = directory.path("checkpoints")
  return ContinualComparison(
    scenario: scenario, policies: policies, seeds: seeds,
    train: try bands(count: 60, split: .train, seed: 1),
    test: try bands(count: 24, split: .test, seed: 2))
}

@Test func severalRunsTrainInTheirOwnDirectoriesAndShareOneMetricsFile() throws {
  let directory = try TemporaryDirectory()
  let comparison = try tinyComparison(
    in: directory, policies: [.spawnAndFreeze, .fineTune], seeds: 2)
  #expect(
    comparison.runs.map(\.policy) == [.spawnAndFreeze, .spawnAndFreeze, .fineTune, .fineTune])
  #expect(comparison.runs.map(\.scenario.training.seed) == [1, 2, 1, 2])
  #expect(
    comparison.runs[3].experiment.checkpointDirectory
      == directory.path("checkpoints") + "/fine-tune/seed_2")
  var finished = 0
  let results = try comparison.run(metricsFile: directory.path("metrics.json")) {
    if case .finished = $0 { finished += 1 }
  }
  #expect(finished == 4 && results.count == 4)
  let written = try Data(contentsOf: URL(fileURLWithPath: directory.path("metrics.json")))
  #expect(written == (try ContinualComparison.metricsJSON(results)))
  struct Runs: Decodable { let runs: [ContinualMetrics] }
  #expect(try JSONDecoder().decode(Runs.self, from: written).runs == results.map(\.metrics))
  let table = ContinualResult.summaryTable(results, policies: [.spawnAndFreeze, .fineTune])
  #expect(table.map { $0[0] } == ["policy", "spawn-and-freeze", "fine-tune"])
  #expect(table[2][7] == "-", "no routing accuracy without a gate")
}

@Test func oneRunWritesItsMetricsObjectAndResumesFromItsNewestCheckpoint() throws {
  let directory = try TemporaryDirectory()
  let comparison = try tinyComparison(in: directory)
  #expect(comparison.runs.count == 1)
  #expect(comparison.runs[0].experiment.checkpointDirectory == directory.path("checkpoints"))
  #expect(throws: NoCheckpointError.self) { try comparison.run(from: .newestCheckpoint) }
  let first = try comparison.run()
  let metrics = try ContinualComparison.metricsJSON(first)
  #expect(try JSONDecoder().decode(ContinualMetrics.self, from: metrics) == first[0].metrics)
  var resumed: Int?
  let again = try comparison.run(from: .newestCheckpoint) {
    if case .experiment(_, .resumed(_, let done, _)) = $0 { resumed = done }
  }
  #expect(resumed == 3)
  #expect(again[0].accuracyMatrixClassIL == first[0].accuracyMatrixClassIL)
}
