import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

extension CheckpointReader {
  // MARK: - Resuming

  /// The run's state as the file holds it, every part checked against the others: the
  /// stored scenario against its hash and the stream's tasks, the experts' records, the
  /// optimiser's and EWC's tables against the model's tensors, the random state.
  func state() throws -> ContinualRunState {
    // Every part `inspect` shows is checked as for the summary.
    _ = try summary()
    let layout = try self.layout()
    let scenario = try Scenario.parse(
      Data(try root.stringAttribute("scenario").utf8), file: "\(file.path): /scenario")
    let storedHash = try root.stringAttribute("scenario_hash")
    guard storedHash == scenario.hash else {
      throw error(
        "/",
        "attribute scenario_hash is \(storedHash), but the stored scenario's is \(scenario.hash)")
    }
    guard layout.taskClasses == scenario.classGroups else {
      throw error(
        "/stream",
        "holds the tasks \(layout.taskClasses), the stored scenario's are \(scenario.classGroups)")
    }
    let policy = PolicyName(rawValue: try root.stringAttribute("policy"))
    let dataDigest =
      root.hasAttribute("dataset_sha256") ? try root.stringAttribute("dataset_sha256") : nil
    let numerics = root.hasAttribute("numerics") ? try root.stringAttribute("numerics") : nil

    var modelState: [String: Tensor] = [:]
    let model = try root.existingGroup("model")
    let experts = try model.existingGroup("experts")
    var records: [ExpertRecord] = []
    var expertKinds: [String] = []
    for (index, name) in layout.experts.enumerated() {
      let group = try experts.existingGroup(name)
      expertKinds.append(try group.stringAttribute("kind"))
      for key in try group.memberNames() where key != "classes" {
        modelState["experts.\(index).\(key)"] = try tensor(group, key)
      }
      let record = try expertRecord(group, layout: layout)
      records.append(
        ExpertRecord(
          id: index, spawnedAtTask: record.spawnedAtTask, frozenAtTask: record.frozenAtTask,
          classes: record.classes))
    }
    let gate = try model.existingGroup("gate")
    let gateKind = try gate.stringAttribute("kind")
    for key in try gate.memberNames() {
      modelState["gate.\(key)"] = try tensor(gate, key)
    }

    let optimizerGroup = try root.existingGroup("optimizer")
    let step = try optimizerGroup.integerAttribute("step")
    guard (0...Self.maximumCounter).contains(step) else {
      throw error("/optimizer", "attribute step is \(step), expected 0 to 2^53")
    }
    var optimizer = OptimizerState(step: step)
    for slot in try optimizerGroup.memberNames() {
      let table = try parameterTable(optimizerGroup.existingGroup(slot), modelState: modelState)
      // Every slot holds one buffer per tensor the optimiser has updated.
      if let (first, other) = optimizer.slots.first, Set(other.keys) != Set(table.keys) {
        throw error(
          "/optimizer/\(slot)",
          "holds buffers of \(table.count) tensors, /optimizer/\(first) of \(other.count) other "
            + "or different ones; every slot has one per tensor updated")
      }
      optimizer.slots[slot] = table
    }
    let generator = try integers(
      root.existingGroup("rng"), "state", shape: [4], "the xoshiro256** state"
    ).map { UInt64(bitPattern: Int64($0)) }
    guard generator.contains(where: { $0 != 0 }) else {
      throw error("/rng/state", "is all zero, which no generator reaches")
    }
    var tables: [String: [String: [Float]]] = [:]
    if root.contains("ewc") {
      let ewc = try root.existingGroup("ewc")
      for name in ["fisher", "anchor"] where ewc.contains(name) {
        tables[name] = try parameterTable(ewc.existingGroup(name), modelState: modelState)
      }
    }

    let stream = try root.existingGroup("stream")
    let taskCount = layout.taskClasses.count
    let currentTask = try stream.integerAttribute("current_task")
    guard currentTask == layout.finished.count - 1 else {
      throw error(
        "/stream",
        "attribute current_task is \(currentTask), expected \(layout.finished.count - 1) "
          + "(the last task in /history)")
    }
    let initial = try doubles(stream, "initial_accuracy_task_il", shape: nil, "")
    guard initial.isEmpty || initial.count == taskCount else {
      throw error(
        "/stream/initial_accuracy_task_il",
        "has \(initial.count) values, expected \(taskCount) (one per task) or none")
    }
    try checkProbabilities(initial, "/stream/initial_accuracy_task_il")
    let replay = try integers(stream, "replay_indices", shape: nil, "")
    try checkRange(replay, 0..<Int.max, "/stream/replay_indices", "a training-set index")
    let replaySeen = try stream.integerAttribute("replay_seen")
    guard (0...Self.maximumCounter).contains(replaySeen) else {
      throw error("/stream", "attribute replay_seen is \(replaySeen), expected 0 to 2^53")
    }
    // The reservoir holds every sample offered until it is full.
    let capacity = scenario.lifecycle.replaySamples
    guard replay.count == min(replaySeen, capacity) else {
      throw error(
        "/stream/replay_indices",
        "has \(replay.count) values, expected \(min(replaySeen, capacity)) (the reservoir of "
          + "\(capacity) samples after \(replaySeen) offered, attribute replay_seen)")
    }

    let history = try root.existingGroup("history")
    var log: [LifecycleEvent] = []
    var reports: [TaskReport] = []
    for (index, name) in layout.finished.enumerated() {
      var report = try taskReport(
        history.existingGroup(name), index: index, layout: layout, records: records)
      report.forwardTransferTerms.initialModel = index < initial.count ? initial[index] : 0
      log += report.events
      reports.append(report)
    }
    // Absent in files written before it was recorded: then the replay buffer's size.
    let metrics = try root.existingGroup("metrics")
    let storedSamples =
      metrics.hasAttribute("stored_samples")
      ? try metrics.integerAttribute("stored_samples") : replay.count
    guard (0...Self.maximumCounter).contains(storedSamples), storedSamples >= replay.count else {
      throw error(
        "/metrics",
        "attribute stored_samples is \(storedSamples), expected \(replay.count) (the replay "
          + "buffer's samples) to 2^53")
    }
    return ContinualRunState(
      scenario: scenario, policy: policy, dataDigest: dataDigest, numerics: numerics,
      expertKinds: expertKinds, gateKind: gateKind, storedSamples: storedSamples,
      nextTask: layout.finished.count,
      modelState: modelState, records: records,
      optimizer: optimizer, generator: generator, replayBuffer: replay, replaySeen: replaySeen,
      fisher: tables["fisher"] ?? [:], anchors: tables["anchor"] ?? [:], reports: reports,
      lifecycleLog: log, initialAccuracies: initial)
  }

  /// Float32 dataset `key` of `group` as a tensor of its stored shape.
  func tensor(_ group: HDF5Group, _ key: String) throws -> Tensor {
    let (shape, values) = try group.readFloats(key, exactType: true)
    do {
      return try Tensor(shape: shape, values: values)
    } catch {
      throw self.error(group.childPath(key), "is not a tensor: \(error)")
    }
  }

  /// The flattened per-parameter buffers in `group` (an optimiser slot, EWC's Fisher or
  /// anchors): each key a tensor of the model, with as many values.
  func parameterTable(_ group: HDF5Group, modelState: [String: Tensor]) throws
    -> [String: [Float]]
  {
    var table: [String: [Float]] = [:]
    for key in try group.memberNames() {
      guard let tensor = modelState[key] else {
        throw error(group.childPath(key), "is not a tensor of the model")
      }
      let (shape, values) = try group.readFloats(key, exactType: true)
      guard shape == [tensor.count] else {
        throw error(
          group.childPath(key),
          "has shape \(shape), expected [\(tensor.count)] (the tensor's \(tensor.shape), flattened)"
        )
      }
      table[key] = values
    }
    return table
  }

  func taskReport(
    _ group: HDF5Group, index: Int, layout: Layout, records: [ExpertRecord]
  ) throws -> TaskReport {
    let experts = try routedExperts(group, layout: layout)
    let classes = layout.classCount
    let table = "\(experts) experts × \(classes) classes"
    let raw = try group.existingGroup("routing")
    let samples = try raw.integerAttribute("samples")
    guard samples >= 0 else {
      throw error(raw.path, "attribute samples is \(samples), expected ≥ 0")
    }
    let correct = try raw.integerAttribute("correct")
    guard (0...samples).contains(correct) else {
      throw error(raw.path, "attribute correct is \(correct), expected 0 to \(samples) (samples)")
    }
    func counts(_ group: HDF5Group, _ name: String, shape: [Int], _ meaning: String) throws
      -> [Int]
    {
      let values = try integers(group, name, shape: shape, meaning)
      try checkRange(values, 0..<Int.max, group.childPath(name), "a count")
      var total = 0
      for value in values {
        let (sum, overflow) = total.addingReportingOverflow(value)
        guard !overflow, sum <= samples else {
          throw error(group.childPath(name), "counts more than the \(samples) samples")
        }
        total = sum
      }
      guard total == samples else {
        throw error(group.childPath(name), "counts \(total) samples, expected \(samples)")
      }
      return values
    }
    func rows(_ values: [Int]) -> [[Int]] {
      (0..<experts).map { Array(values[($0 * classes)..<(($0 + 1) * classes)]) }
    }
    // Sums of gate probabilities.
    func sums(_ name: String, shape: [Int], _ meaning: String) throws -> [Double] {
      let values = try doubles(raw, name, shape: shape, meaning)
      if let bad = values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
        throw error(
          raw.childPath(name), "value \(values[bad]) at index \(bad) is not a sum of probabilities")
      }
      return values
    }
    let routing = try RoutingStatistics(
      experts: experts, classes: classes, samples: samples, correct: correct,
      entropyTotal: try raw.doubleAttribute("entropy_total"),
      gateTotals: try sums("gate_totals", shape: [experts], "\(experts) experts"),
      gateByClass: try sums("gate_by_class", shape: [experts, classes], table),
      samplesByClass: try counts(raw, "samples_by_class", shape: [classes], "\(classes) classes"),
      counts: rows(try counts(group, "counts", shape: [experts, classes], table)),
      predictedCounts: rows(try counts(raw, "predicted_counts", shape: [experts, classes], table)))

    let events = try lifecycleEvents(group, layout: layout)
    let seen = "\(index + 1) tasks seen"
    let before = try doubles(group, "accuracy_before_training_task_il", shape: [1], "one value")
    try checkProbabilities(before, group.childPath("accuracy_before_training_task_il"))
    var accuracies: [[Double]] = []
    for name in ["accuracy_task_il", "accuracy_class_il", "oracle_accuracy_class_il"] {
      let values = try doubles(group, name, shape: [index + 1], seen)
      try checkProbabilities(values, group.childPath(name))
      accuracies.append(values)
    }
    var report = TaskReport(
      task: index, accuracyTaskIL: accuracies[0], accuracyClassIL: accuracies[1],
      oracleAccuracyClassIL: accuracies[2], routing: routing,
      routingForgetting: try group.doubleAttribute("routing_forgetting"),
      trainingSeconds: try group.doubleAttribute("training_seconds"),
      finalLoss: try group.doubleAttribute("final_loss"), events: events)
    report.forwardTransferTerms.beforeTraining = before[0]
    report.epochLosses = try optionalDoubles(group, "epoch_losses")
    report.routingAccuracy =
      group.hasAttribute("routing_accuracy")
      ? try probability(group, "routing_accuracy")
      : routing.routingAccuracy(expertClasses: records.map(\.classes))
    return report
  }

  /// The task's `events` table: int64 [n, 3] of task, expert and kind index.
  func lifecycleEvents(_ group: HDF5Group, layout: Layout) throws -> [LifecycleEvent] {
    let path = group.childPath("events")
    let (shape, values) = try group.readIntegers("events", exactType: true)
    guard shape.count == 2, shape[1] == 3 else {
      throw error(path, "has shape \(shape), expected [n, 3] (task, expert and kind of each event)")
    }
    let kinds = LifecycleEvent.Kind.allCases
    return try (0..<shape[0]).map { row in
      let (task, expert, kind) = (values[3 * row], values[3 * row + 1], values[3 * row + 2])
      guard (0..<Int64(layout.taskClasses.count)).contains(task) else {
        throw error(
          path, "event \(row) has task \(task), expected 0 to \(layout.taskClasses.count - 1)")
      }
      guard (0..<Int64(layout.experts.count)).contains(expert) else {
        throw error(
          path, "event \(row) has expert \(expert), expected 0 to \(layout.experts.count - 1)")
      }
      guard (0..<Int64(kinds.count)).contains(kind) else {
        throw error(
          path,
          "event \(row) has kind \(kind), expected 0 to \(kinds.count - 1) "
            + "(\(kinds.map(\.rawValue).joined(separator: ", ")))")
      }
      return LifecycleEvent(task: Int(task), expert: Int(expert), kind: kinds[Int(kind)])
    }
  }
}
