import Dispatch
import MoE

extension ContinualRun {
  /// Task-IL routing under the evidence gate, whose hard choice would ignore the task
  /// identity task-IL grants: every sample of `task` goes to the best of the experts that
  /// own its classes; `nil` for other gates, which route as they learned, and for a task no
  /// expert owns yet.
  func taskRouting(_ task: ContinualTask) -> Routing? {
    guard let gate = model.gate as? EvidenceGate else { return nil }
    let owners = records.indices.filter {
      !Set(records[$0].classes).isDisjoint(with: task.classes)
    }
    guard !owners.isEmpty else { return nil }
    return .byInput { input in
      let hidden = gate.needsExpertHidden ? try self.model.experts.map { try $0(input).hidden } : []
      return try gate.probabilities(input, expertHidden: hidden, among: owners)
    }
  }

  /// With the evidence gate (`lifecycle.gate: evidence` or `hybrid`): fits every expert
  /// frozen after `task` that has no evidence yet on the task's training samples of its
  /// classes, the only samples it ever reads. Returns the seconds spent (0 for other gates).
  func fitEvidence(after task: ContinualTask) throws -> Double {
    guard let gate = model.gate as? EvidenceGate else { return 0 }
    let pending = model.experts.indices.filter {
      model.isFrozen(expert: $0) && !gate.isFitted(expert: $0)
    }
    guard !pending.isEmpty else { return 0 }
    let start = DispatchTime.now().uptimeNanoseconds
    for index in pending {
      // Only the expert's own classes' samples are read, one expert at a time.
      let classes = records[index].classes
      let (input, labels) = try stream.train.batch(
        task.trainIndices.filter { classes.contains(Int(stream.train.labels[$0])) })
      try gate.fit(expert: index, samples: input, labels: labels, classes: classes)
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }
}
