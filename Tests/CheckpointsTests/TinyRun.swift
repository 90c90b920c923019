import Checkpoints
import Continual
import Datasets
import Foundation
import TensorCore
import _ContinualTestSupport

/// A three-task spawn-and-freeze run on ``bands(count:split:seed:blank:)`` small enough to
/// train in a fraction of a second.
func tinyRun(blank: Bool = false) throws -> ContinualRun {
  let scenario = try tinyScenario()
  return try ContinualRun(scenario: scenario, stream: tinyStream(for: scenario, blank: blank))
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
        run.state, to: "\(directory)/" + String(format: "task_%03d.h5", report.task),
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
