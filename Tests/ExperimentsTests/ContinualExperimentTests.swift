import Checkpoints
import Continual
import Datasets
import Experiments
import Foundation
import MoE
import NN
import TensorCore
import Testing
import _ContinualTestSupport
import _TestSupport

/// A user's own expert: a perceptron with a residual layer, as in CustomExpertExample.
final class ResidualExpert: Module, Expert {
  let encoder: Linear
  let mixer: Linear
  let classifier: Linear

  init(inputs: Int, width: Int, classes: Int, using generator: inout RandomGenerator) throws {
    encoder = try Linear(inputs, width, weightInitializer: .heUniform, using: &generator)
    mixer = try Linear(width, width, weightInitializer: .heUniform, using: &generator)
    classifier = try Linear(width, classes, using: &generator)
  }

  var classCount: Int { classifier.outputCount }
  var hiddenCount: Int { encoder.outputCount }

  func callAsFunction(_ input: Tensor) throws -> ExpertOutput {
    let flat = try input.reshaped([input.shape[0], encoder.inputCount])
    let first = try encoder(flat).relu()
    let hidden = try (first + mixer(first)).relu()
    return ExpertOutput(logits: try classifier(hidden), hidden: hidden)
  }
}

/// A three-task spawn-and-freeze experiment of ``ResidualExpert``s checkpointed into
/// `directory`.
private func experiment(in directory: String) throws -> ContinualExperiment {
  let scenario = try tinyScenario()
  let stream = try tinyStream(for: scenario)
  return ContinualExperiment(
    scenario: scenario, stream: stream, checkpointDirectory: directory, toolVersion: "test"
  ) { _, generator in
    try ResidualExpert(inputs: 784, width: 8, classes: 6, using: &generator)
  }
}

/// Every dataset under `group` by path, as its type and its values' bit patterns (so NaN
/// equals NaN and -0 differs from 0).
private func datasets(in group: HDF5Group, prefix: String = "") throws -> [String: [UInt64]] {
  var result: [String: [UInt64]] = [:]
  for name in try group.memberNames() {
    let path = prefix + name
    if let values = try? group.readFloats(name, exactType: true).values {
      result["float " + path] = values.map { UInt64($0.bitPattern) }
    } else if let values = try? group.readDoubles(name, exactType: true).values {
      result["double " + path] = values.map(\.bitPattern)
    } else if let values = try? group.readIntegers(name, exactType: true).values {
      result["integer " + path] = values.map { UInt64(bitPattern: $0) }
    } else {
      result.merge(try datasets(in: group.existingGroup(name), prefix: path + "/")) { a, _ in a }
    }
  }
  return result
}

private struct Stop: Error {}

@Test func stoppedAfterTwoTasksAndResumedEqualsUninterrupted() throws {
  let directory = try TemporaryDirectory()
  let (full, cut) = (directory.path("a"), directory.path("b"))

  let uninterrupted = try experiment(in: full).run()
  #expect(uninterrupted.reports.count == 3)
  #expect(
    try FileManager.default.contentsOfDirectory(atPath: full).filter { !$0.hasPrefix(".") }
      .sorted() == ["latest.h5", "task_000.h5", "task_001.h5", "task_002.h5"])

  // Stopped by the event closure after the second task's checkpoints.
  var finished = 0
  #expect(throws: Stop.self) {
    _ = try experiment(in: cut).run { event in
      if case .progress(.taskFinished) = event {
        finished += 1
        if finished == 2 { throw Stop() }
      }
    }
  }
  #expect(try Checkpoint.summary(of: "\(cut)/latest.h5").tasks.count == 2)
  #expect(!FileManager.default.fileExists(atPath: "\(cut)/task_002.h5"))
  #expect(
    CheckpointDirectory.newestCompleteCheckpoint(in: cut).file == "\(cut)/latest.h5")

  // A new experiment resumes from the newest complete checkpoint.
  var resumed: (file: String, done: Int, of: Int)?
  let continued = try experiment(in: cut).resume { event in
    if case .resumed(let file, let done, let of) = event { resumed = (file, done, of) }
  }
  #expect(resumed?.file == "\(cut)/latest.h5")
  #expect(resumed?.done == 2 && resumed?.of == 3)

  let expected = try datasets(in: HDF5File.open("\(full)/latest.h5").root)
  let actual = try datasets(in: HDF5File.open("\(cut)/latest.h5").root)
  #expect(!expected.isEmpty)
  #expect(expected.keys.sorted() == actual.keys.sorted())
  for (path, values) in expected {
    #expect(actual[path]?.count == values.count, "\(path)")
    #expect(actual[path] == values, "\(path)")
  }
  #expect(
    expected.keys.contains { $0.contains("encoder") }
      && expected.keys.contains { $0.contains("mixer") },
    "the checkpoint holds the custom experts' layers: \(expected.keys.sorted())")

  // The metrics: the same reports, accuracies bit for bit.
  let bits = { (result: ContinualResult) in
    result.reports.map { report in
      (report.accuracyTaskIL + report.accuracyClassIL + report.oracleAccuracyClassIL)
        .map(\.bitPattern)
    }
  }
  #expect(continued.reports.count == 3)
  #expect(bits(continued) == bits(uninterrupted))
  #expect(continued.accuracyMatrixClassIL == uninterrupted.accuracyMatrixClassIL)
  #expect(continued.accuracyMatrixTaskIL == uninterrupted.accuracyMatrixTaskIL)
  #expect(continued.experts.map(\.classes) == uninterrupted.experts.map(\.classes))
}

@Test func aRunFromTheFirstTaskLeavesNoCheckpointOfAnEarlierRun() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("run")
  _ = try experiment(in: path).run()
  try Data("not mine".utf8).write(to: URL(fileURLWithPath: "\(path)/notes.txt"))

  // Run again from the first task, stopped after task 0: once task 0's checkpoint is written,
  // the earlier run's task_001.h5 and task_002.h5 are gone, so a resume continues from it.
  #expect(throws: Stop.self) {
    _ = try experiment(in: path).run { event in
      if case .progress(.taskFinished) = event { throw Stop() }
    }
  }
  #expect(
    try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
      .sorted() == ["latest.h5", "notes.txt", "task_000.h5"])
  var resumed: (file: String, done: Int, of: Int)?
  _ = try experiment(in: path).resume { event in
    if case .resumed(let file, let done, let of) = event { resumed = (file, done, of) }
  }
  #expect(resumed?.done == 1 && resumed?.of == 3)
}

@Test func aDirectoryUnderALaterTaskFileNameIsNeverRemoved() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("run")
  let blocking = "\(path)/task_002.h5"
  try FileManager.default.createDirectory(atPath: blocking, withIntermediateDirectories: true)
  try Data("keep".utf8).write(to: URL(fileURLWithPath: "\(blocking)/mine.txt"))
  #expect(throws: CheckpointWriteError.self) { _ = try experiment(in: path).run() }
  #expect(FileManager.default.fileExists(atPath: "\(blocking)/mine.txt"))
  #expect(try Checkpoint.summary(of: "\(path)/latest.h5").tasks.count == 2)
}

/// The evidence gate's lifecycle settings under test: evidence alone per task, its second
/// kind with a calibration, one expert per class, and the hybrid with a replay buffer.
private let evidenceLifecycles = [
  #""gate": "evidence", "evidence_rank": 4"#,
  #""gate": "evidence", "evidence_kind": "ppca", "evidence_calibration": "class-z", "evidence_rank": 4"#,
  #""gate": "evidence", "expert_granularity": "class", "evidence_rank": 4"#,
  #""gate": "hybrid", "evidence_rank": 4, "replay_samples": 30, "evidence_temperature": 2"#,
]

@Test(arguments: evidenceLifecycles)
func theEvidenceGateRoutesAndResumesToTheSameCheckpoint(lifecycle: String) throws {
  let directory = try TemporaryDirectory()
  let (full, cut) = (directory.path("full"), directory.path("cut"))
  let scenario = try Scenario.parse(
    Data(
      """
      {"name": "tiny-evidence", "split": {"groups": [[0, 1], [2, 3], [4, 5]]},
       "model": {"expert": "mlp", "experts": 1, "hidden": [8]},
       "training": {"epochs": 1, "batch_size": 16, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.01}},
       "lifecycle": {"policy": "spawn-and-freeze", \(lifecycle)}}
      """.utf8), file: "tiny-evidence.json")
  let stream = try tinyStream(for: scenario)
  func experiment(_ path: String) -> ContinualExperiment {
    ContinualExperiment(
      scenario: scenario, stream: stream, checkpointDirectory: path, toolVersion: "test")
  }
  let uninterrupted = try experiment(full).run()
  let hybrid = scenario.lifecycle.gate == .hybrid
  #expect(uninterrupted.storedSamples == (hybrid ? 30 : 0))
  let perClass = scenario.lifecycle.expertGranularity == .class
  #expect(
    uninterrupted.experts.map(\.classes)
      == (perClass ? (0..<6).map { [$0] } : stream.tasks.map(\.classes)))
  let last = try #require(uninterrupted.reports.last)
  #expect(last.routingAccuracy > 0.9)
  #expect(uninterrupted.accuracyMatrixClassIL.last?.allSatisfy { $0 > 0.9 } == true)
  // Task-IL: the best of the task's own experts, whatever the other experts' evidence says.
  #expect(uninterrupted.accuracyMatrixTaskIL.last?.allSatisfy { $0 > 0.9 } == true)
  if perClass {
    // One class per expert: the routed expert's class is the prediction.
    let classIL = last.accuracyClassIL.reduce(0, +) / Double(last.accuracyClassIL.count)
    #expect(abs(classIL - last.routingAccuracy) < 1e-9)
  }

  #expect(throws: Stop.self) {
    _ = try experiment(cut).run { event in
      if case .progress(.taskFinished(let report)) = event, report.task == 1 { throw Stop() }
    }
  }
  _ = try experiment(cut).resume()
  let expected = try datasets(in: HDF5File.open("\(full)/latest.h5").root)
  let lastExpert = perClass ? 5 : 2
  #expect(expected.keys.contains { $0.contains("gate/experts.\(lastExpert).fitted.means") })
  #expect(try datasets(in: HDF5File.open("\(cut)/latest.h5").root) == expected)
}

@Test func anUnusableDirectoryIsReportedBeforeTraining() throws {
  let directory = try TemporaryDirectory()
  let file = directory.path("file")
  try Data("x".utf8).write(to: URL(fileURLWithPath: file))
  var events = 0
  #expect(throws: CheckpointDirectoryError.self) {
    _ = try experiment(in: "\(file)/checkpoints").run { _ in events += 1 }
  }
  #expect(events == 0)
}
