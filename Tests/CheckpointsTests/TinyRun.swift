import Checkpoints
import Continual
import Datasets
import Foundation
import TensorCore

/// A 6-class dataset of 1×28×28 images: class c lights up row band c over seeded noise
/// (all zero with `blank`).
func bands(count: Int, split: DatasetSplit, seed: UInt64, blank: Bool = false) throws -> Dataset {
  var generator = RandomGenerator(seed: seed)
  var pixels: [UInt8] = []
  var labels: [UInt8] = []
  for index in 0..<count {
    let label = index % 6
    labels.append(UInt8(label))
    for pixel in 0..<784 {
      let lit = pixel / 28 / 4 == label
      pixels.append(blank ? 0 : lit ? 220 : UInt8(generator.next() % 60))
    }
  }
  return try Dataset(
    name: "bands", split: split, sampleShape: [1, 28, 28], pixels: pixels, labels: labels,
    classCount: 6, mean: [0.2], standardDeviation: [0.3])
}

/// A three-task spawn-and-freeze run on ``bands(count:split:seed:blank:)`` small enough to
/// train in a fraction of a second.
func tinyRun(blank: Bool = false) throws -> ContinualRun {
  let scenario = try Scenario.parse(
    Data(
      """
      {"name": "tiny", "split": {"groups": [[0, 1], [2, 3], [4, 5]]},
       "model": {"expert": "mlp", "experts": 1, "gate": "attentive", "hidden": [8]},
       "training": {"epochs": 1, "batch_size": 16, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.01}},
       "lifecycle": {"policy": "spawn-and-freeze", "gate": "replay", "replay_samples": 12}}
      """.utf8), file: "tiny.json")
  let stream = TaskStream(
    train: try bands(count: 60, split: .train, seed: 1, blank: blank),
    test: try bands(count: 24, split: .test, seed: 2, blank: blank),
    classGroups: scenario.classGroups, validationFraction: 0.1, seed: 3)
  return try ContinualRun(scenario: scenario, stream: stream)
}

/// Trains ``tinyRun(blank:)`` and writes its checkpoint after each task into `directory`
/// (`task_000.h5`, …); returns the path of the checkpoint after task `task`.
func writeTinyCheckpoints(in directory: String, returning task: Int = 1) throws -> String {
  let run = try tinyRun()
  var reports: [TaskReport] = []
  var failure: Error?
  _ = try run.run { event in
    guard case .taskFinished(let report) = event else { return }
    reports.append(report)
    do {
      try Checkpoint.write(
        run, reports: reports, to: "\(directory)/" + String(format: "task_%03d.h5", report.task),
        toolVersion: "test")
    } catch {
      failure = error
    }
  }
  if let failure { throw failure }
  return "\(directory)/" + String(format: "task_%03d.h5", task)
}

/// Everything a restored run holds, as text: equal texts mean bit-identical states (floats
/// are written as their bit patterns).
func fingerprint(_ state: ContinualRunState) -> String {
  func bits(_ values: [Float]) -> String {
    values.map { String($0.bitPattern, radix: 16) }.joined(separator: ",")
  }
  func table(_ table: [String: [Float]]) -> String {
    table.keys.sorted().map { "\($0)=\(bits(table[$0]!))" }.joined(separator: ";")
  }
  var lines = [
    "next \(state.nextTask)", "records \(state.records)", "step \(state.optimizer.step)",
    "generator \(state.generator)", "replay \(state.replayBuffer) \(state.replaySeen)",
    "fisher \(table(state.fisher))", "anchors \(table(state.anchors))",
    "log \(state.lifecycleLog)", "initial \(state.initialAccuracies.map(\.bitPattern))",
  ]
  for key in state.modelState.keys.sorted() {
    lines.append("\(key) \(state.modelState[key]!.shape) \(bits(state.modelState[key]!.values))")
  }
  for slot in state.optimizer.slots.keys.sorted() {
    lines.append("slot \(slot) \(table(state.optimizer.slots[slot]!))")
  }
  for report in state.reports {
    lines.append("report \(report)")
  }
  return lines.joined(separator: "\n")
}

/// The summary as text, for comparing two reads.
func fingerprint(_ summary: Checkpoint.Summary) -> String {
  var copy = summary
  copy.path = ""
  // Copies made to look older say format_version 1; everything they hold is the same.
  copy.formatVersion = 0
  return "\(copy)"
}
