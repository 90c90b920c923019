import Foundation
import MoE
import NN
import TensorCore
import Testing
import _ContinualTestSupport

@testable import Continual

/// A finished spawn-and-freeze run over three tasks of two band classes, its model in
/// evaluation mode and its memo refreshed; `model` and `lifecycle` are the scenario's
/// sections without their braces.
private func finishedBandRun(model: String, epochs: Int, lifecycle: String) throws -> (
  run: ContinualRun, stream: TaskStream
) {
  let scenario = try Scenario.parse(
    Data(
      """
      {"name": "bands", "split": {"groups": [[0, 1], [2, 3], [4, 5]]},
       "model": {\(model)},
       "training": {"epochs": \(epochs), "batch_size": 32, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.01}},
       "lifecycle": {"policy": "spawn-and-freeze", \(lifecycle)}}
      """.utf8), file: "bands.json")
  let stream = TaskStream(
    train: try bands(count: 360, split: .train, seed: 1),
    test: try bands(count: 120, split: .test, seed: 2), classGroups: [[0, 1], [2, 3], [4, 5]],
    validationFraction: 0.1, seed: 3)
  let run = try ContinualRun(scenario: scenario, stream: stream)
  _ = try run.run()
  run.model.train(false)
  run.evaluationMemo.refresh(for: run.model)
  return (run, stream)
}

@Test func rememberedExpertOutputsGiveTheSameBitsAndAreForgottenWhenAnExpertChanges() throws {
  let (run, stream) = try finishedBandRun(
    model: #""expert": "mlp", "experts": 1, "gate": "attentive", "hidden": [32, 16]"#,
    epochs: 2, lifecycle: #""gate": "replay", "replay_samples": 60"#)
  let model = run.model
  #expect(model.experts.count == 3)
  let memo = run.evaluationMemo
  let batch = Array(stream.tasks[0].testIndices.prefix(16))
  let (input, _) = try stream.test.batch(batch)
  // The run's evaluations kept every expert's outputs on its test batches.
  let full = Array(stream.tasks[0].testIndices.prefix(ContinualRun.evaluationBatch))
  #expect(memo.known(on: full).count == 3)
  // Remembered outputs stand in for running the experts, to the bit.
  let computed = try withGradientsDisabled { try model(input) }
  memo.remember(computed.expertOutputs, on: batch)
  let known = memo.known(on: batch)
  #expect(known.count == 3 && memo.known(on: Array(batch.prefix(8))).isEmpty)
  let reused = try withGradientsDisabled { try model(input, knownExpertOutputs: known) }
  #expect(reused.probabilities.values == computed.probabilities.values)
  // An expert whose state changes forgets its outputs; the others keep theirs.
  let weight = try #require(model.experts[1].parameters().first?.tensor)
  try weight.assign(weight * 2)
  memo.refresh(for: model)
  #expect(memo.known(on: batch).keys.sorted() == [0, 2])
}

@Test func rememberedEvidenceRoutesToTheSameBitsAndIsForgottenWhenASlotIsRefitted() throws {
  let (run, stream) = try finishedBandRun(
    model: #""expert": "mlp", "experts": 1, "hidden": [8]"#, epochs: 1,
    lifecycle: #""gate": "evidence", "evidence_rank": 4"#)
  let model = run.model
  let gate = try #require(model.gate as? EvidenceGate)
  let memo = run.evaluationMemo
  // The run's evaluations kept every expert's evidence on its test batches, and given back
  // it routes as computing it does.
  let batch = Array(stream.tasks[0].testIndices.prefix(ContinualRun.evaluationBatch))
  let known = memo.knownEvidence(on: batch)
  #expect(known.keys.sorted() == [0, 1, 2])
  let (input, _) = try stream.test.batch(batch)
  let computed = try withGradientsDisabled { try model(input) }
  let (weights, evidence) = try gate.probabilities(
    input, expertHidden: [], knownEvidence: known)
  #expect(weights.values == computed.gate.values)
  #expect(evidence == (0..<3).map { known[$0]! })
  // Refitting an expert's evidence on other samples forgets what it gave; the others keep
  // theirs.
  let task = stream.tasks[2]
  let (samples, labels) = try stream.train.batch(task.trainIndices)
  try gate.fit(expert: 1, samples: samples, labels: labels, classes: task.classes)
  memo.refresh(for: model)
  #expect(memo.knownEvidence(on: batch).keys.sorted() == [0, 2])
  #expect(memo.known(on: batch).count == 3)
}

// MARK: - Replayed rows

@Test func replayedRowsGiveFrozenExpertsTheirOwnOutputsToTheBit() throws {
  let (run, stream) = try finishedBandRun(
    model:
      #""expert": "conv", "channels": 16, "experts": 1, "gate": "attentive", "hidden": [64, 32]"#,
    epochs: 1, lifecycle: #""gate": "replay", "replay_samples": 200, "gate_epochs": 1"#)
  let model = run.model
  model.train(true)  // frozen experts stay in evaluation mode
  let memo = ReplayedRowMemo()
  memo.refresh(for: model)
  var generator = RandomGenerator(seed: 5)
  let buffer = run.replayIndices
  // Batches of the sizes a run's training steps and gate epochs take, the buffer's samples
  // at new places each time, so rows are kept, reused and computed apart.
  for size in [256, 128, 104, 256, 224, 128, 72] {
    let samples = (0..<size).map { _ in buffer[Int(generator.next() % UInt64(buffer.count))] }
    let (input, _) = try stream.train.batch(samples)
    let known = try memo.outputs(
      of: model, input: input, samples: samples, keptRows: size / 2..<size)
    #expect(known.keys.sorted() == (BLAS.numerics == .portable ? [0, 1, 2] : []))
    for (index, output) in known {
      let direct = try model.experts[index](input)
      #expect(output.logits.values.map(\.bitPattern) == direct.logits.values.map(\.bitPattern))
      #expect(output.hidden.values.map(\.bitPattern) == direct.hidden.values.map(\.bitPattern))
    }
  }
  #expect(memo.keptBytes > 0 || BLAS.numerics != .portable)
  // An expert changed between phases forgets its rows; one being trained gets none.
  let expert = try #require(model.experts[0] as? FeatureExpert)
  let filters = try #require(expert.parameters().first?.tensor)
  try filters.assign(filters * 2)
  try model.unfreeze(expert: 2)
  model.train(true)
  memo.refresh(for: model)
  let samples = Array(buffer.prefix(128))
  let (input, _) = try stream.train.batch(samples)
  let known = try memo.outputs(of: model, input: input, samples: samples, keptRows: 0..<128)
  #expect(known.keys.sorted() == (BLAS.numerics == .portable ? [0, 1] : []))
  if let output = known[0] {
    #expect(output.logits.values == (try expert(input)).logits.values)
  }
  memo.forgetAllBut([])
  #expect(memo.keptBytes == 0)
}
