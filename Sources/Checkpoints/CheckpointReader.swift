import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// Reads a checkpoint for ``Checkpoint/summary(of:)`` and
/// ``Checkpoint/resumeState(from:scenario:policy:)``, checking every part before it is
/// used: dimensions against the file's size (in ``HDF5Group``) and against each other,
/// indices against what they index. Every error names the file and the object.
struct CheckpointReader {
  let file: HDF5File

  /// The most tasks a stream may have.
  static let maximumTasks = 100_000
  /// The most classes a dataset may have.
  static let maximumClasses = 100_000
  /// The largest counter (optimiser steps, samples offered to the replay reservoir) read:
  /// 2^53, far above any run and far below overflowing as the run counts on.
  static let maximumCounter = 1 << 53
  /// How far a stored probability may stray outside 0…1 by rounding.
  static let probabilityTolerance = 1e-6

  var root: HDF5Group { file.root }

  func error(_ object: String, _ message: String) -> HDF5Error {
    HDF5Error(file: file.path, path: object, message: message)
  }

  /// What the other parts are checked against: the stream's tasks, the finished tasks,
  /// the experts and the class count.
  struct Layout {
    /// The classes of each task of the stream.
    var taskClasses: [[Int]]
    /// The `history` members, `task_000` up to the last finished task.
    var finished: [String]
    /// The `model/experts` members, `expert_000` up to the last expert.
    var experts: [String]
    /// K, the columns of every routing table.
    var classCount: Int
  }

  // MARK: - Summary

  func summary() throws -> Checkpoint.Summary {
    let version = try formatVersion()
    try checkContentDigest(formatVersion: version)
    let layout = try self.layout()
    let expertsGroup = try root.existingGroup("model").existingGroup("experts")
    let experts = try layout.experts.map { name -> Checkpoint.Summary.ExpertSummary in
      let group = try expertsGroup.existingGroup(name)
      let record = try expertRecord(group, layout: layout)
      let parameters = try group.memberNames().filter { $0 != "classes" }.reduce(0) {
        $0 + (try group.shape(of: $1)).reduce(1, *)
      }
      return Checkpoint.Summary.ExpertSummary(
        name: name, kind: try group.stringAttribute("kind"), parameterCount: parameters,
        frozen: record.frozen, spawnedAtTask: record.spawnedAtTask,
        frozenAtTask: record.frozenAtTask, classes: record.classes)
    }
    let history = try root.existingGroup("history")
    let tasks = try layout.finished.enumerated().map { index, name in
      try taskSummary(history.existingGroup(name), index: index, layout: layout)
    }
    let metrics = try root.existingGroup("metrics")
    for (name, rows, source) in [
      ("accuracy_matrix_task_il", tasks.map(\.accuracyTaskIL), "accuracy_task_il"),
      ("accuracy_matrix_class_il", tasks.map(\.accuracyClassIL), "accuracy_class_il"),
    ] {
      let size = rows.count
      let matrix = try doubles(metrics, name, shape: [size, size], "\(size) finished tasks")
      for (i, row) in rows.enumerated() {
        for j in 0..<size {
          let value = matrix[i * size + j]
          if j < row.count, value != row[j] {
            throw error(
              metrics.childPath(name),
              "entry [\(i), \(j)] is \(value), "
                + String(format: "/history/task_%03d/", i) + "\(source) holds \(row[j])")
          }
          if j >= row.count, !value.isNaN {
            throw error(
              metrics.childPath(name),
              "entry [\(i), \(j)] is \(value), expected NaN above the diagonal")
          }
        }
      }
    }
    return Checkpoint.Summary(
      path: file.path, formatVersion: version,
      toolVersion: try root.stringAttribute("tool_version"),
      scenario: try root.stringAttribute("scenario"),
      scenarioHash: try root.stringAttribute("scenario_hash"),
      policy: try root.stringAttribute("policy"),
      numerics: root.hasAttribute("numerics") ? try root.stringAttribute("numerics") : nil,
      taskClasses: layout.taskClasses,
      experts: experts, tasks: tasks)
  }

  /// Checks the file's `content_sha256` against its contents; files of format_version 1,
  /// written before it existed, have none, and every later file must have it (an edit
  /// that removed it is refused like any other).
  private func checkContentDigest(formatVersion version: Int) throws {
    let name = Checkpoint.contentDigestAttribute
    guard root.hasAttribute(name) else {
      guard version < 2 else {
        throw error(
          "/",
          "checksum mismatch: attribute \(name) is missing, and every checkpoint of "
            + "format_version \(version) carries it (the file was changed after it was written)")
      }
      return
    }
    let stored = try root.stringAttribute(name)
    guard stored == (try file.contentDigest(excludingRootAttribute: name)) else {
      throw error(
        "/",
        "checksum mismatch: the file's contents do not match \(name) (the file was changed "
          + "after it was written, or is damaged)")
    }
  }

  /// The `format_version` of an ExpertStream checkpoint this tool reads.
  private func formatVersion() throws -> Int {
    guard root.hasAttribute("format"), try root.stringAttribute("format") == Checkpoint.format
    else {
      throw error(
        "/", "not an ExpertStream checkpoint (no format attribute '\(Checkpoint.format)')")
    }
    let version = try root.integerAttribute("format_version")
    guard version <= Checkpoint.formatVersion else {
      throw error(
        "/",
        "format_version \(version) is newer than this tool reads (\(Checkpoint.formatVersion))")
    }
    guard version >= 1 else {
      throw error("/", "format_version \(version) was never written (versions start at 1)")
    }
    return version
  }

  private func layout() throws -> Layout {
    let stream = try root.existingGroup("stream")
    let taskCount = try stream.integerAttribute("tasks")
    guard (1...Self.maximumTasks).contains(taskCount) else {
      throw error("/stream", "attribute tasks is \(taskCount), expected 1 to \(Self.maximumTasks)")
    }
    let history = try root.existingGroup("history")
    let finished = try numberedMembers(of: history, prefix: "task_")
    guard finished.count <= taskCount else {
      throw error(
        "/history", "holds \(finished.count) finished tasks, more than the stream's \(taskCount)")
    }
    let experts = try numberedMembers(
      of: root.existingGroup("model").existingGroup("experts"), prefix: "expert_")
    let decompositionPath = "/history/\(finished[0])/decomposition"
    let shape = try history.existingGroup(finished[0]).shape(of: "decomposition")
    guard shape.count == 2, (1...Self.maximumClasses).contains(shape[1]) else {
      throw error(
        decompositionPath,
        "has shape \(shape), expected [experts, classes] with 1 to \(Self.maximumClasses) classes")
    }
    let classCount = shape[1]
    // Tasks have disjoint classes.
    var seen = Set<Int>()
    let taskClasses = try (0..<taskCount).map { task -> [Int] in
      let name = String(format: "task_%03d_classes", task)
      let classes = try integers(stream, name, shape: nil, "the task's classes")
      guard classes.count >= 1 else { throw error("/stream/\(name)", "holds no class") }
      try checkRange(classes, 0..<classCount, "/stream/\(name)", "a class (\(classCount) classes)")
      if let repeated = classes.indices.first(where: { !seen.insert(classes[$0]).inserted }) {
        throw error(
          "/stream/\(name)",
          "value \(classes[repeated]) at index \(repeated) is a class of an earlier task or "
            + "repeats one")
      }
      return classes
    }
    return Layout(
      taskClasses: taskClasses, finished: finished, experts: experts, classCount: classCount)
  }

  /// The members of `group`, which must be `prefix` + `000`, `001`, … without gaps, at
  /// least one.
  private func numberedMembers(of group: HDF5Group, prefix: String) throws -> [String] {
    let names = try group.memberNames()
    guard !names.isEmpty else {
      throw error(group.path, "is empty, expected members \(prefix)000, \(prefix)001, …")
    }
    for (index, name) in names.enumerated() {
      let expected = prefix + String(format: "%03d", index)
      guard name == expected else {
        throw error(
          group.childPath(name),
          "unexpected member: expected \(expected) (members are numbered from \(prefix)000 "
            + "without gaps)")
      }
    }
    return names
  }

  /// One expert's `frozen`, `spawned_at_task`, `frozen_at_task` and `classes`.
  private func expertRecord(_ group: HDF5Group, layout: Layout) throws -> (
    frozen: Bool, spawnedAtTask: Int, frozenAtTask: Int?, classes: [Int]
  ) {
    let frozen = try group.integerAttribute("frozen")
    guard frozen == 0 || frozen == 1 else {
      throw error(group.path, "attribute frozen is \(frozen), expected 0 or 1")
    }
    // An expert added by hand after the last finished task is spawned at the next one.
    let tasks = 0...layout.finished.count
    let spawned = try group.integerAttribute("spawned_at_task")
    guard tasks.contains(spawned) else {
      throw error(
        group.path,
        "attribute spawned_at_task is \(spawned), expected \(tasks.lowerBound) to "
          + "\(tasks.upperBound) (\(layout.finished.count) finished tasks)")
    }
    let frozenAt = try group.integerAttribute("frozen_at_task")
    guard frozenAt == -1 || tasks.contains(frozenAt) else {
      throw error(
        group.path,
        "attribute frozen_at_task is \(frozenAt), expected -1 (trainable) or 0 to "
          + "\(tasks.upperBound) (\(layout.finished.count) finished tasks)")
    }
    let classes = try integers(group, "classes", shape: nil, "the expert's classes")
    try checkRange(
      classes, 0..<layout.classCount, group.childPath("classes"),
      "a class (\(layout.classCount) classes)")
    var seen = Set<Int>()
    if let repeated = classes.indices.first(where: { !seen.insert(classes[$0]).inserted }) {
      throw error(
        group.childPath("classes"),
        "value \(classes[repeated]) at index \(repeated) repeats an earlier class")
    }
    return (frozen == 1, spawned, frozenAt < 0 ? nil : frozenAt, classes)
  }

  /// The experts that routing tables of finished task `index` cover: the rows of its
  /// `decomposition`, at least one and at most the model's.
  private func routedExperts(_ group: HDF5Group, layout: Layout) throws -> Int {
    let shape = try group.shape(of: "decomposition")
    let experts = shape.first ?? 0
    guard shape.count == 2, (1...layout.experts.count).contains(experts),
      shape[1] == layout.classCount
    else {
      throw error(
        group.childPath("decomposition"),
        "has shape \(shape), expected [E, \(layout.classCount)] with E from 1 to the model's "
          + "\(layout.experts.count) experts (\(layout.classCount) classes)")
    }
    return experts
  }

  private func taskSummary(_ group: HDF5Group, index: Int, layout: Layout) throws
    -> Checkpoint.Summary.TaskSummary
  {
    let experts = try routedExperts(group, layout: layout)
    let classes = layout.classCount
    let seen = "\(index + 1) tasks seen"
    let decomposition = try doubles(
      group, "decomposition", shape: [experts, classes], "\(experts) experts × \(classes) classes")
    try checkProbabilities(decomposition, group.childPath("decomposition"))
    let usage = try doubles(group, "expert_usage", shape: [experts], "\(experts) experts")
    try checkProbabilities(usage, group.childPath("expert_usage"))
    var accuracies: [[Double]] = []
    for name in ["accuracy_task_il", "accuracy_class_il", "oracle_accuracy_class_il"] {
      let values = try doubles(group, name, shape: [index + 1], seen)
      try checkProbabilities(values, group.childPath(name))
      accuracies.append(values)
    }
    return Checkpoint.Summary.TaskSummary(
      task: index, accuracyTaskIL: accuracies[0], accuracyClassIL: accuracies[1],
      decomposition: (0..<experts).map {
        Array(decomposition[($0 * classes)..<(($0 + 1) * classes)])
      },
      usageEntropy: try group.doubleAttribute("usage_entropy_bits"),
      classEntropy: try group.doubleAttribute("class_entropy_bits"),
      routingForgetting: try group.doubleAttribute("routing_forgetting"),
      routingAccuracy: group.hasAttribute("routing_accuracy")
        ? try probability(group, "routing_accuracy") : nil,
      events: try group.stringAttribute("lifecycle_events"),
      oracleAccuracyClassIL: accuracies[2], expertUsage: usage,
      epochLosses: try optionalDoubles(group, "epoch_losses"),
      trainingSeconds: try group.doubleAttribute("training_seconds"))
  }

  // MARK: - Resuming

  /// The state to resume `scenario` under `policy`; `modelShapes` are the shapes of the
  /// tensors of the model being restored that it already has (by mixture key), checked
  /// before the optimiser's and EWC's buffers are checked against the file's tensors.
  func resumeState(scenario: Scenario, policy: String, modelShapes: [String: [Int]] = [:])
    throws -> ContinualRunState
  {
    // Every part `inspect` shows is checked as for the summary.
    _ = try summary()
    let layout = try self.layout()
    let storedHash = try root.stringAttribute("scenario_hash")
    guard storedHash == scenario.hash else {
      throw error(
        "/",
        "written by another scenario (hash \(storedHash), this run's is \(scenario.hash)); "
          + "resume with the same scenario file and --set overrides")
    }
    let storedPolicy = try root.stringAttribute("policy")
    guard storedPolicy == policy else {
      throw error("/", "written by policy \(storedPolicy), not \(policy)")
    }
    if root.hasAttribute("numerics") {
      let stored = try root.stringAttribute("numerics")
      let current = BLAS.numericsDescription
      guard stored == current else {
        throw error(
          "/",
          "attribute numerics is '\(stored)', but this process computes with '\(current)': "
            + "the resumed run would not match an uninterrupted one; resume with the same "
            + "--numerics on a CPU of the same type, or start again without --resume")
      }
    }
    guard layout.taskClasses == scenario.classGroups else {
      throw error(
        "/stream",
        "holds the tasks \(layout.taskClasses), the scenario's are \(scenario.classGroups)")
    }

    var modelState: [String: Tensor] = [:]
    let model = try root.existingGroup("model")
    let experts = try model.existingGroup("experts")
    var records: [ExpertRecord] = []
    for (index, name) in layout.experts.enumerated() {
      let group = try experts.existingGroup(name)
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
    for key in try gate.memberNames() {
      modelState["gate.\(key)"] = try tensor(gate, key)
    }

    for key in modelState.keys.sorted() {
      if let expected = modelShapes[key], let found = modelState[key]?.shape, found != expected {
        throw error(
          Checkpoint.objectPath(ofModelKey: key),
          "shape \(found) does not fit the model's \(expected)")
      }
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
    return ContinualRunState(
      nextTask: layout.finished.count, modelState: modelState, records: records,
      optimizer: optimizer, generator: generator, replayBuffer: replay, replaySeen: replaySeen,
      fisher: tables["fisher"] ?? [:], anchors: tables["anchor"] ?? [:], reports: reports,
      lifecycleLog: log, initialAccuracies: initial)
  }

  /// Float32 dataset `key` of `group` as a tensor of its stored shape.
  private func tensor(_ group: HDF5Group, _ key: String) throws -> Tensor {
    let (shape, values) = try group.readFloats(key, exactType: true)
    do {
      return try Tensor(shape: shape, values: values)
    } catch {
      throw self.error(group.childPath(key), "is not a tensor: \(error)")
    }
  }

  /// The flattened per-parameter buffers in `group` (an optimiser slot, EWC's Fisher or
  /// anchors): each key a tensor of the model, with as many values.
  private func parameterTable(_ group: HDF5Group, modelState: [String: Tensor]) throws
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

  private func taskReport(
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
  private func lifecycleEvents(_ group: HDF5Group, layout: Layout) throws -> [LifecycleEvent] {
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

  // MARK: - Checked reads

  /// Float64 dataset `name` of `group`, of `shape` (any one-dimensional length when `nil`).
  private func doubles(_ group: HDF5Group, _ name: String, shape: [Int]?, _ meaning: String)
    throws -> [Double]
  {
    let (found, values) = try group.readDoubles(name, exactType: true)
    try checkShape(found, shape, group.childPath(name), meaning)
    return values
  }

  /// Int64 dataset `name` of `group`, of `shape` (any one-dimensional length when `nil`).
  private func integers(_ group: HDF5Group, _ name: String, shape: [Int]?, _ meaning: String)
    throws -> [Int]
  {
    let (found, values) = try group.readIntegers(name, exactType: true)
    try checkShape(found, shape, group.childPath(name), meaning)
    return values.map(Int.init)
  }

  /// The float64 dataset `name` when present (a part added to the schema after the file was
  /// written), else none: one-dimensional.
  private func optionalDoubles(_ group: HDF5Group, _ name: String) throws -> [Double] {
    try group.memberNames().contains(name) ? doubles(group, name, shape: nil, "") : []
  }

  private func checkShape(_ found: [Int], _ expected: [Int]?, _ path: String, _ meaning: String)
    throws
  {
    guard let expected else {
      guard found.count == 1 else {
        throw error(path, "has shape \(found), expected one dimension")
      }
      return
    }
    guard found != expected else { return }
    if found.count == 1, expected.count == 1 {
      throw error(path, "has \(found[0]) values, expected \(expected[0]) (\(meaning))")
    }
    throw error(path, "has shape \(found), expected \(expected) (\(meaning))")
  }

  private func checkRange(_ values: [Int], _ range: Range<Int>, _ path: String, _ what: String)
    throws
  {
    if let bad = values.firstIndex(where: { !range.contains($0) }) {
      throw error(path, "value \(values[bad]) at index \(bad) is not \(what)")
    }
  }

  /// Checks that `values` are probabilities (or accuracies): within 0…1 up to rounding.
  private func checkProbabilities(_ values: [Double], _ path: String) throws {
    let range = -Self.probabilityTolerance...(1 + Self.probabilityTolerance)
    if let bad = values.firstIndex(where: { !range.contains($0) }) {
      throw error(path, "value \(values[bad]) at index \(bad) is outside 0…1")
    }
  }

  /// Numeric attribute `name` of `group`, a probability.
  private func probability(_ group: HDF5Group, _ name: String) throws -> Double {
    let value = try group.doubleAttribute(name)
    let range = -Self.probabilityTolerance...(1 + Self.probabilityTolerance)
    guard range.contains(value) else {
      throw error(group.path, "attribute \(name) is \(value), outside 0…1")
    }
    return value
  }
}
