import Checkpoints
import Continual
import Foundation
import MoE
import Testing
import _TestSupport

/// `Checkpoint.read` gives back what `Checkpoint.write` wrote, an expert frozen before the
/// first task included (tasks count from 0; -1 is "before task 0").
@Test func aStateWrittenIsTheStateRead() throws {
  let directory = try TemporaryDirectory()
  let run = try tinyRun()
  try run.model.freeze(expert: 0)
  _ = try run.run()
  let state = run.state
  #expect(state.records[0].frozenAtTask == -1 && state.records[0].classes.isEmpty)
  #expect(state.records.dropFirst().map(\.frozenAtTask) == [1, 2])

  let path = directory.path("latest.h5")
  try Checkpoint.write(state, to: path, toolVersion: "test")
  let read = try Checkpoint.read(path)
  #expect(read.scenario.canonicalJSON == state.scenario.canonicalJSON)
  #expect(read.scenario.hash == state.scenario.hash && read.policy == state.policy)
  #expect(read.dataDigest == state.dataDigest && read.numerics == state.numerics)
  #expect(read.expertKinds == state.expertKinds && read.gateKind == state.gateKind)
  #expect(read.nextTask == 3 && read.records == state.records)
  #expect(read.modelState.keys.sorted() == state.modelState.keys.sorted())
  for (key, tensor) in state.modelState {
    #expect(read.modelState[key]?.shape == tensor.shape, "\(key)")
    #expect(
      read.modelState[key]?.values.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(key)")
  }
  #expect(read.optimizer.step == state.optimizer.step)
  #expect(read.optimizer.slots == state.optimizer.slots)
  #expect(read.generator == state.generator)
  #expect(read.replayBuffer == state.replayBuffer && read.replaySeen == state.replaySeen)
  #expect(read.reports.map(\.accuracyClassIL) == state.reports.map(\.accuracyClassIL))
  // The freeze by hand before the first task is recorded with task 0's events.
  #expect(read.lifecycleLog == state.lifecycleLog)
  #expect(read.reports[0].events.first == LifecycleEvent(task: 0, expert: 0, kind: .frozen))
  #expect(read.initialAccuracies == state.initialAccuracies)

  // Restored, the expert frozen before the first task is frozen again.
  let resumed = try tinyRun()
  try Checkpoint.restore(resumed, from: read, file: path)
  #expect(resumed.model.isFrozen(expert: 0))
  #expect(resumed.records == state.records)
  // `inspect` says so.
  #expect(try Checkpoint.summary(of: path).experts[0].frozenAtTask == -1)
}
