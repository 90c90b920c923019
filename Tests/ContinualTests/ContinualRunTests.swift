import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore
import Testing
import _ContinualTestSupport

private func scenario(_ policy: String, gate: String = "replay") throws -> Scenario {
  try Scenario.parse(
    Data(
      """
      {"name": "bands", "split": {"groups": [[0, 1], [2, 3], [4, 5]]},
       "model": {"expert": "mlp", "experts": 1, "gate": "attentive", "hidden": [32, 16]},
       "training": {"epochs": 3, "batch_size": 32, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.01}},
       "lifecycle": {"policy": "\(policy)", "gate": "\(gate)", "replay_samples": 60}}
      """.utf8), file: "bands.json")
}

private func stream() throws -> TaskStream {
  TaskStream(
    train: try bands(count: 360, split: .train, seed: 1),
    test: try bands(count: 120, split: .test, seed: 2), classGroups: [[0, 1], [2, 3], [4, 5]],
    validationFraction: 0.1, seed: 3)
}

@Test func metricFormulasMatchTheirDefinitions() {
  let matrix = [[0.9], [0.6, 0.8], [0.5, 0.7, 0.95]]
  #expect(abs(ContinualResult.averageAccuracy(matrix) - (0.5 + 0.7 + 0.95) / 3) < 1e-12)
  #expect(abs(ContinualResult.backwardTransfer(matrix) - ((0.5 - 0.9) + (0.7 - 0.8)) / 2) < 1e-12)
  #expect(abs(ContinualResult.forgetting(matrix) - ((0.9 - 0.5) + (0.8 - 0.7)) / 2) < 1e-12)
  #expect(ContinualResult.backwardTransfer([[0.7]]) == 0)
}

@Test func spawnAndFreezeKeepsOldExpertsBitIdenticalAndLearnsEveryTask() throws {
  let stream = try stream()
  let run = try ContinualRun(scenario: scenario("spawn-and-freeze"), stream: stream)
  var snapshots: [[[Float]]] = []
  let result = try run.run { event in
    if case .taskFinished = event {
      snapshots.append(run.model.experts[0].parameters().map(\.tensor.values))
    }
  }
  #expect(run.model.experts.count == 3)
  #expect(snapshots[0] == snapshots[1] && snapshots[1] == snapshots[2])
  #expect(result.experts.map(\.frozenAtTask) == [0, 1, 2])
  #expect(result.experts.map(\.classes) == [[0, 1], [2, 3], [4, 5]])
  #expect(
    result.accuracyMatrixTaskIL.last!.allSatisfy { $0 > 0.9 }, "\(result.accuracyMatrixTaskIL)")
  #expect(ContinualResult.backwardTransfer(result.accuracyMatrixTaskIL) == 0)
  #expect(result.accuracyMatrixClassIL.map(\.count) == [1, 2, 3])
  #expect(result.reports.last!.routing.decomposition.count == 3)
  // The first task has one expert: every sample is routed to it.
  #expect(result.reports[0].routingAccuracy == 1)
  #expect(result.reports.last!.routingAccuracy > 1.0 / 3, "better than chance")
  #expect(
    result.reports.flatMap(\.events).filter { $0.kind == .spawned }.map(\.task) == [1, 2])
}

@Test func convolutionalExpertsWithTheirOwnGateTrunkLearnEveryTask() throws {
  var scenario = try scenario("spawn-and-freeze")
  scenario.model.expert = .conv
  scenario.model.channels = 4
  scenario.model.hiddenWidths = [16, 8]
  scenario.model.gateHiddenWidths = [32, 8]
  let run = try ContinualRun(scenario: scenario, stream: try stream())
  let result = try run.run()
  #expect(run.model.experts.count == 3)
  #expect(run.model.experts.allSatisfy { ($0 as? FeatureExpert)?.features.layers.first is Conv2D })
  #expect(
    result.accuracyMatrixTaskIL.last!.allSatisfy { $0 > 0.9 }, "\(result.accuracyMatrixTaskIL)")
  #expect(result.reports.last!.routingAccuracy > 1.0 / 3, "better than chance")
}

@Test func gateEpochsTrainTheGateAloneAfterEachTask() throws {
  var shared = try scenario("shared")
  shared.model.experts = 3
  var tuned = shared
  tuned.lifecycle.gateEpochs = 2
  let plain = try ContinualRun(scenario: shared, stream: stream())
  let run = try ContinualRun(scenario: tuned, stream: stream())
  var expertsAtTaskEnd: [[Float]] = []
  var plainExperts: [[Float]] = []
  _ = try run.run { event in
    if case .taskFinished = event {
      expertsAtTaskEnd.append(
        run.model.experts.flatMap { $0.parameters() }.flatMap(\.tensor.values))
    }
  }
  _ = try plain.run { event in
    if case .taskFinished = event {
      plainExperts.append(plain.model.experts.flatMap { $0.parameters() }.flatMap(\.tensor.values))
    }
  }
  // After the first task (same generator draws until then) the experts are the same: the
  // gate phase held them fixed. The gate is not; and the experts are trainable again.
  #expect(expertsAtTaskEnd[0] == plainExperts[0])
  let gatesDiffer =
    run.model.gate.parameters().map(\.tensor.values)
    != plain.model.gate.parameters().map(\.tensor.values)
  #expect(gatesDiffer)
  #expect(run.model.experts.indices.allSatisfy { !run.model.isFrozen(expert: $0) })
  #expect(!run.model.lifecycleLog.contains { $0.kind == .frozen })
}

@Test(arguments: ["shared", "reuse-or-spawn", "fine-tune", "ewc", "replay", "joint"])
func everyPolicyRunsAndReportsEveryMetric(policy: String) throws {
  let result = try ContinualRun(scenario: scenario(policy), stream: stream()).run()
  #expect(result.reports.count == 3)
  let record = try #require(try JSONOutput.tree(result.metrics) as? [String: Any])
  for key in [
    "accuracy_matrix_task_il", "accuracy_matrix_class_il", "average_accuracy_class_il",
    "bwt_class_il", "forgetting_class_il", "routing_forgetting", "oracle_accuracy_class_il",
    "fwt_task_il",
    "scenario_hash", "experts", "decompositions",
  ] {
    #expect(record[key] != nil, "\(policy): \(key)")
  }
  #expect(result.accuracyMatrixTaskIL[0][0] > 0.9, "\(policy): \(result.accuracyMatrixTaskIL)")
  if PolicyName.baselines.contains(PolicyName(rawValue: policy)) {
    #expect(result.experts.count == 1)
    #expect(record["routing_accuracy"] is NSNull, "\(policy): no routing without a gate")
  } else {
    let routing = try #require(record["routing_accuracy"] as? Double, "\(policy)")
    #expect(routing > 0 && routing <= 1, "\(policy): \(routing)")
    // Shared experts are trained on every class, so every sample goes to one of its own.
    if policy == "shared" { #expect(routing == 1) }
  }
}

@Test func theSameScenarioAndSeedGiveTheSameResult() throws {
  let first = try ContinualRun(scenario: scenario("spawn-and-freeze"), stream: stream()).run()
  let second = try ContinualRun(scenario: scenario("spawn-and-freeze"), stream: stream()).run()
  #expect(first.accuracyMatrixClassIL == second.accuracyMatrixClassIL)
  #expect(first.reports.map(\.routing) == second.reports.map(\.routing))
}

/// A researcher's own expert: a two-layer network with He initialisation, written outside the
/// library against the public `Expert` protocol only.
private final class ResearcherExpert: Module, Expert {
  let encoder: Linear
  let classifier: Linear

  init(hidden: Int, classes: Int, using generator: inout RandomGenerator) throws {
    encoder = try Linear(784, hidden, weightInitializer: .heUniform, using: &generator)
    classifier = try Linear(hidden, classes, using: &generator)
  }

  var classCount: Int { classifier.outputCount }
  var hiddenCount: Int { encoder.outputCount }

  func callAsFunction(_ input: Tensor) throws -> ExpertOutput {
    let hidden = try encoder(input.reshaped([input.shape[0], 784])).relu()
    return ExpertOutput(logits: try classifier(hidden), hidden: hidden)
  }
}

@Test func aUserExpertTypeIsSpawnedMidStreamAndFrozen() throws {
  let run = try ContinualRun(scenario: scenario("spawn-and-freeze"), stream: stream()) {
    try ResearcherExpert(hidden: 16, classes: 6, using: &$1)
  }
  let result = try run.run()
  #expect(run.model.experts.allSatisfy { $0 is ResearcherExpert })
  #expect(result.experts.map(\.spawnedAtTask) == [0, 1, 2])
  #expect(result.experts.allSatisfy { $0.frozenAtTask != nil })
  #expect(run.model.isFrozen(expert: 1))
  // The same API by hand: add one more mid-stream, then freeze it.
  var generator = RandomGenerator(seed: 9)
  let index = try run.model.addExpert(
    ResearcherExpert(hidden: 16, classes: 6, using: &generator), using: &generator)
  #expect(!run.model.isFrozen(expert: index))
  try run.model.freeze(expert: index)
  #expect(run.model.isFrozen(expert: index))
  #expect(run.model.lifecycleLog.last == LifecycleEvent(task: 2, expert: 3, kind: .frozen))
  // The run records the hand-added expert (checkpoints index records by expert): it joins at
  // task 3 and was frozen after task 2, the last finished, before it trained.
  #expect(
    run.records.last == ExpertRecord(id: 3, spawnedAtTask: 3, frozenAtTask: 2, classes: []))
}

@Test func aStateWithContradictoryReplayCountsIsRefused() throws {
  let run = try ContinualRun(scenario: scenario("replay"), stream: stream())
  var state = run.state
  state.replayBuffer = [4, 7, 9]
  state.replaySeen = -1
  #expect(
    throws: ModuleError.invalidConfiguration(
      "/stream replay_seen is -1, fewer than the 3 samples of /stream/replay_indices: the "
        + "checkpoint is damaged; resume from another one or start the run again")
  ) {
    try run.restore(state)
  }
}
