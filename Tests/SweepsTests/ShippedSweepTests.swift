import Continual
import Datasets
import Foundation
import Sweeps
import Testing

private let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../../tasks").standardized

/// SHA-256 of the run ids of each shipped sweep, in run order and joined by spaces, as
/// `expertstream sweep FILE --dry-run` listed them before sweeps decoded a typed scenario
/// per run. A sweep resumes by run id, so they must not change.
private let pinnedRunIds = [
  "sweep-quick.json": (4, "a45d52f2413487123cbef114171e0674f5fb11f92299dd30be2d3ae6c0d5d8ca"),
  "sweep-paper-fashion-mnist.json": (
    80, "df95d5217285d7c92196aa15f127f7032300323463718102239f9353da42eb75"
  ),
  "split-fashion-mnist-vs-avalanche.json": (
    15, "2ac23ae05c8f32153e5d49289476dae2304edae7d19293a365395a8720119d3e"
  ),
  "split-fashion-mnist-vs-avalanche-tuning.json": (
    42, "2216df0b0573cf6d986b548453f0ce6efff7f1fe41ec4a9b6c0aebce36d358c7"
  ),
  "replay-free.json": (15, "536990b560d67e8a100a91acf774b7e166856dd593e84b853dd273227590baeb"),
  "replay-free-tuning.json": (
    72, "0f31ee4714ce55a9979df3bfe9896d002f0b17da7afca7f83ff1af3e8f375f57"
  ),
]

@Test(arguments: pinnedRunIds.keys.sorted())
func theShippedSweepsKeepTheirRunIds(file: String) throws {
  let plan = try SweepPlan.load(tasks.appendingPathComponent(file).path)
  let ids = plan.runs.map(\.id)
  #expect(ids.count == pinnedRunIds[file]?.0)
  #expect(SHA256.hexDigest(Array(ids.joined(separator: " ").utf8)) == pinnedRunIds[file]?.1)
}

@Test func theQuickSweepsRunsAreListedInGridOrder() throws {
  let plan = try SweepPlan.load(tasks.appendingPathComponent("sweep-quick.json").path)
  #expect(
    plan.runs.map(\.id) == [
      "spawn-and-freeze_seed0_30924b5f", "spawn-and-freeze_seed1_75bbe826",
      "shared_seed0_07b8161d", "shared_seed1_77ce3496",
    ])
}

@Test(arguments: pinnedRunIds.keys.sorted())
func eachRunsScenarioIsTheScenarioFileWithTheRunsOverrides(file: String) throws {
  let plan = try SweepPlan.load(tasks.appendingPathComponent(file).path)
  for run in plan.runs {
    let loaded = try Scenario.load(plan.scenarioPath, overrides: run.overrides)
    #expect(run.scenario == loaded, "\(run.id)")
    #expect(run.scenario.training.seed == run.seed)
  }
}
