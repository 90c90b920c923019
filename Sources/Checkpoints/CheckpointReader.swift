import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// Reads a checkpoint for ``Checkpoint/summary(of:)`` and ``Checkpoint/read(_:)``, checking every part before it is
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
  func checkContentDigest(formatVersion version: Int) throws {
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
  func formatVersion() throws -> Int {
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

  func layout() throws -> Layout {
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
  func numberedMembers(of group: HDF5Group, prefix: String) throws -> [String] {
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
  func expertRecord(_ group: HDF5Group, layout: Layout) throws -> (
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
    // -1: trainable (frozen 0), or frozen before the first task (frozen 1). Files of tool
    // version 0.3 and before may record an expert added and frozen by hand after the last
    // finished task as frozen at the next one.
    let frozenAt = try group.integerAttribute("frozen_at_task")
    guard frozen == 1 ? (-1...layout.finished.count).contains(frozenAt) : frozenAt == -1 else {
      throw error(
        group.path,
        "attribute frozen_at_task is \(frozenAt), expected "
          + (frozen == 1
            ? "-1 (frozen before the first task) to \(layout.finished.count) "
              + "(\(layout.finished.count) finished tasks)"
            : "-1 (attribute frozen is 0: trainable)"))
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
    return (frozen == 1, spawned, frozen == 1 ? frozenAt : nil, classes)
  }

  /// The experts that routing tables of finished task `index` cover: the rows of its
  /// `decomposition`, at least one and at most the model's.
  func routedExperts(_ group: HDF5Group, layout: Layout) throws -> Int {
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

  func taskSummary(_ group: HDF5Group, index: Int, layout: Layout) throws
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
}
