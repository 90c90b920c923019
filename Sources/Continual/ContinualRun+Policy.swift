import MoE
import NN
import TensorCore

extension ContinualRun {
  // MARK: - What a policy calls

  /// Adds a new expert for `task`, built as every expert of the run is (the scenario's kind
  /// or the run's factory) with the run's generator, trainable and with no classes yet.
  ///
  /// The gate grows to route over it; the run records it as spawned during `task`.
  ///
  /// - Returns: The new expert's index.
  /// - Throws: ``ModuleError`` when the expert does not fit the mixture.
  @discardableResult
  public func spawnExpert(for task: ContinualTask) throws -> Int {
    storedRecords = records
    let id = try model.addExpert(
      try newExpert(for: task.index, using: &generator), using: &generator)
    storedRecords.append(
      ExpertRecord(id: id, spawnedAtTask: task.index, frozenAtTask: nil, classes: []))
    return id
  }

  /// Freezes expert `index` and records it as frozen after `task`.
  ///
  /// Freezing a frozen expert again logs another event and moves its record to `task`.
  /// The gate is untouched (see ``freezeTrainableExperts(afterTask:)``).
  ///
  /// - Throws: ``ModuleError`` for an index out of range.
  public func freeze(expert index: Int, afterTask task: ContinualTask) throws {
    try model.freeze(expert: index)
    storedRecords = records
    storedRecords[index].frozenAtTask = task.index
  }

  /// Freezes every expert not yet recorded as frozen, as after `task`; with
  /// `lifecycle.gate: rows-frozen` and a softmax gate, then freezes the gate's rows of every
  /// expert too.
  ///
  /// - Throws: ``ModuleError`` when the mixture refuses (it never does for its own experts).
  public func freezeTrainableExperts(afterTask task: ContinualTask) throws {
    let trainable = storedRecords.indices.filter { storedRecords[$0].frozenAtTask == nil }
    for index in trainable { try freeze(expert: index, afterTask: task) }
    if scenario.lifecycle.gate == .rowsFrozen, model.gate is SoftmaxGate {
      try model.freezeGate(rows: Array(records.indices))
    }
  }

  /// Adds `classes` to those expert `index` may predict (frozen or not), after the ones it
  /// has, without repeats: how a policy reuses a frozen expert for a new task.
  ///
  /// - Throws: ``ModuleError`` for an index out of range.
  public func assign(classes: [Int], to index: Int) throws {
    storedRecords = records
    guard storedRecords.indices.contains(index) else {
      throw ModuleError.invalidConfiguration(
        "expert \(index) does not exist; the mixture has \(storedRecords.count)")
    }
    storedRecords[index].classes = Self.merging(storedRecords[index].classes, classes)
  }

  /// One gradient step of the mixture on a batch with the run's optimiser: `input`
  /// [B, …], `labels` [B], the scenario's loss and regularizers in `objective`, predictions
  /// restricted to `head`.
  ///
  /// Frozen experts' outputs on replayed samples come from what earlier steps computed of
  /// them, the same bits as running the experts (``ReplayedRowMemo``), when `input` is the
  /// batch the run handed to ``LifecyclePolicy/trainStep(input:labels:head:objective:in:)``.
  ///
  /// - Returns: The batch's loss terms.
  public func trainStep(
    input: Tensor, labels: [Int], head: OutputHead, objective: MixtureObjective
  ) throws -> StepLosses {
    var known: [Int: ExpertOutput] = [:]
    if let batch = replayedBatch, batch.input === input {
      known = try replayedRows.outputs(
        of: model, input: input, samples: batch.samples, keptRows: batch.replayedRows)
    }
    return try model.trainStep(
      input: input, targets: labels, objective: objective, optimizer: optimizer, head: head,
      knownExpertOutputs: known)
  }

  /// `a` followed by the classes of `b` not in it.
  static func merging(_ a: [Int], _ b: [Int]) -> [Int] { a + b.filter { !a.contains($0) } }
}
