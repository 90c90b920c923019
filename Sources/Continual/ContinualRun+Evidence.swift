import Dispatch
import MoE

extension ContinualRun {
  /// Task-IL routing under the evidence gate, whose hard choice ignores the task identity
  /// task-IL grants: every sample of `task` goes to the experts that own its classes (in
  /// equal shares); `nil` for other gates, which route as they learned, and for a task no
  /// expert owns yet.
  func taskRouting(_ task: ContinualTask) -> ((Int) -> [Double])? {
    guard model.gate is EvidenceGate else { return nil }
    let owners = records.map { !Set($0.classes).isDisjoint(with: task.classes) }
    let count = owners.filter { $0 }.count
    guard count > 0 else { return nil }
    let shares = owners.map { $0 ? 1 / Double(count) : 0 }
    return { _ in shares }
  }

  /// With the evidence gate (`lifecycle.gate: evidence`): fits every expert frozen after
  /// `task` that has no subspaces yet on the task's training samples, the only samples it
  /// ever reads. Returns the seconds spent (0 for other gates).
  func fitEvidence(after task: ContinualTask) throws -> Double {
    guard let gate = model.gate as? EvidenceGate else { return 0 }
    let pending = model.experts.indices.filter {
      model.isFrozen(expert: $0) && !gate.isFitted(expert: $0)
    }
    guard !pending.isEmpty else { return 0 }
    let start = DispatchTime.now().uptimeNanoseconds
    let (input, labels) = try stream.train.batch(task.trainIndices)
    for index in pending { try gate.fit(expert: index, samples: input, labels: labels) }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }
}
