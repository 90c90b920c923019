import Checkpoints
import Continual
import Experiments
import Foundation
import MoE
import TensorCore
import Testing
import _ContinualTestSupport
import _TestSupport

/// A user's policy: before each task after the first, the frozen expert doing best on the
/// new task's validation samples takes its classes when it reaches 90%, else one expert
/// is spawned; every trainable expert is frozen after its task. It keeps no state.
private struct GrowWhenAccuracyDrops: LifecyclePolicy {
  var name: PolicyName { PolicyName(rawValue: "test-grow-when-accuracy-drops") }

  func initialExpertCount(for scenario: Scenario) -> Int { 1 }

  func prepare(for task: ContinualTask, in run: ContinualRun) throws {
    guard task.index > 0 else { return }
    let frozen = run.records.filter { $0.frozenAtTask != nil }.map(\.id)
    let scored = try frozen.map { ($0, try run.validationAccuracy(expert: $0, on: task)) }
    if let best = scored.max(by: { $0.1 < $1.1 }), best.1 >= 0.9 {
      try run.assign(classes: task.classes, to: best.0)
    } else {
      try run.spawnExpert(for: task)
    }
  }

  func finish(_ task: ContinualTask, in run: ContinualRun) throws {
    try run.freezeTrainableExperts(afterTask: task)
  }
}

/// The names both are registered under, once per process.
private let registered: Void = {
  do {
    try ExpertKind.register(ExpertKind(rawValue: "test-residual")) { context, generator in
      try ResidualExpert(
        inputs: context.inputCount, width: context.hiddenCount, classes: context.classCount,
        using: &generator)
    }
    try PolicyName.register(GrowWhenAccuracyDrops())
  } catch {
    Issue.record("registration failed: \(error)")
  }
}()

/// A three-task experiment of the registered kind and policy, named in the scenario only,
/// checkpointed into `directory`: nothing but the names ties it to the Swift types.
private func namedExperiment(in directory: String) throws -> ContinualExperiment {
  _ = registered
  let scenario = try Scenario.parse(
    Data(
      """
      {"name": "tiny-named", "split": {"groups": [[0, 1], [2, 3], [4, 5]]},
       "model": {"expert": "test-residual", "experts": 1, "gate": "attentive", "hidden": [8]},
       "training": {"epochs": 1, "batch_size": 16, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.01}},
       "lifecycle": {"policy": "test-grow-when-accuracy-drops", "gate": "replay",
                     "replay_samples": 12}}
      """.utf8), file: "tiny-named.json")
  return ContinualExperiment(
    scenario: scenario, stream: try tinyStream(for: scenario), checkpointDirectory: directory,
    toolVersion: "test")
}

private struct Killed: Error {}

@Test func aRegisteredExpertAndPolicyResumeToTheUninterruptedCheckpoint() throws {
  let directory = try TemporaryDirectory()
  let (full, cut) = (directory.path("full"), directory.path("cut"))

  let uninterrupted = try namedExperiment(in: full).run()
  #expect(uninterrupted.policy.rawValue == "test-grow-when-accuracy-drops")
  #expect(uninterrupted.reports.count == 3)

  // Killed between tasks: the events closure throws after task 1's checkpoints (two of three
  // tasks done; tasks count from 0).
  #expect(throws: Killed.self) {
    _ = try namedExperiment(in: cut).run { event in
      if case .progress(.taskFinished(let report)) = event, report.task == 1 { throw Killed() }
    }
  }
  #expect(try Checkpoint.summary(of: "\(cut)/latest.h5").tasks.count == 2)

  // A new experiment, given no closure, resumes through the registered names.
  var resumedFrom: Int?
  let continued = try namedExperiment(in: cut).resume { event in
    if case .resumed(_, let done, _) = event { resumedFrom = done }
  }
  #expect(resumedFrom == 2)
  #expect(continued.accuracyMatrixClassIL == uninterrupted.accuracyMatrixClassIL)
  #expect(continued.experts == uninterrupted.experts)

  // Every tensor and attribute of the final checkpoints, but the task's training time
  // (a timing) and the content digest that covers it.
  for name in ["latest.h5", "task_002.h5"] {
    let found = try differences(
      between: "\(full)/\(name)", and: "\(cut)/\(name)",
      ignoringAttributes: ["training_seconds", Checkpoint.contentDigestAttribute])
    #expect(found.isEmpty, "\(name): \(found.joined(separator: "\n"))")
  }
  let contents = try HDF5Contents(of: "\(cut)/latest.h5")
  #expect(contents.datasets.keys.contains { $0.hasSuffix("mixer.weight") })
  #expect(contents.attributes["/@policy"]?.hasSuffix(": test-grow-when-accuracy-drops") == true)
  let summary = try Checkpoint.summary(of: "\(cut)/latest.h5")
  #expect(summary.experts.allSatisfy { $0.kind == "test-residual" })
  #expect(summary.experts.allSatisfy { $0.frozenAtTask != nil })
}

@Test func theComparisonSeesEveryKindOfDifference() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("run")
  _ = try namedExperiment(in: path).run()
  let (a, b) = ("\(path)/task_001.h5", "\(path)/task_002.h5")
  #expect(try differences(between: a, and: a, ignoringAttributes: []).isEmpty)
  let found = try differences(between: a, and: b, ignoringAttributes: [])
  #expect(found.contains { $0.hasPrefix("attribute /stream@current_task") })
  #expect(found.contains { $0.hasPrefix("dataset /rng/state") })
  #expect(found.contains { $0.hasPrefix("groups:") })
  #expect(found.contains { $0.hasPrefix("attribute /@\(Checkpoint.contentDigestAttribute)") })
}
