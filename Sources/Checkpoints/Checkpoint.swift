import Continual
import Foundation
import MoE
import NN
import TensorCore

/// The HDF5 record of a continual run after a task: weights, optimiser and random state,
/// the stream, and every task's metrics and gate decomposition.
///
/// `checkpoints/README.md` documents the schema; h5py reads every part of it.
public enum Checkpoint {
  /// The `format` attribute of the root group.
  public static let format = "expertstream-checkpoint"
  /// The `format_version` attribute of the root group.
  public static let formatVersion = 1

  /// Writes the state of `run` after `reports.count` tasks to `path`, through a temporary
  /// file renamed into place: a crash never leaves a half-written file under `path`.
  ///
  /// - Parameters:
  ///   - reports: The reports of the tasks finished so far, in order.
  ///   - toolVersion: The writing tool's version.
  public static func write(
    _ run: ContinualRun, reports: [TaskReport], to path: String, toolVersion: String
  ) throws {
    try HDF5File.createAtomically(path) { root in
      try writeContents(run, reports: reports, into: root, toolVersion: toolVersion)
    }
  }

  private static func writeContents(
    _ run: ContinualRun, reports: [TaskReport], into root: HDF5Group, toolVersion: String
  ) throws {
    try root.setAttribute("format", format)
    try root.setAttribute("format_version", formatVersion)
    try root.setAttribute("tool_version", toolVersion)
    try root.setAttribute(
      "scenario", String(decoding: run.scenario.canonicalJSON, as: UTF8.self))
    try root.setAttribute("scenario_hash", run.scenario.hash)
    try root.setAttribute("policy", run.policy)

    let model = try root.group("model")
    let experts = try model.group("experts")
    for (index, expert) in run.model.experts.enumerated() {
      let group = try experts.group(String(format: "expert_%03d", index))
      try writeState(expert, into: group)
      let record = run.records[index]
      // Built-in experts are named by their scenario kind, others by their Swift type.
      let kind =
        expert is FeatureExpert ? run.scenario.model.expert : String(describing: type(of: expert))
      try group.setAttribute("kind", kind)
      try group.setAttribute("frozen", expert.isFrozen ? 1 : 0)
      try group.setAttribute("spawned_at_task", record.spawnedAtTask)
      try group.setAttribute("frozen_at_task", record.frozenAtTask ?? -1)
      try group.write(
        "classes", integers: record.classes.map(Int64.init), shape: [record.classes.count])
    }
    let gate = try model.group("gate")
    try gate.setAttribute("kind", String(describing: type(of: run.model.gate)))
    try writeState(run.model.gate, into: gate)

    let optimizer = try root.group("optimizer")
    let state = run.optimizerState
    try optimizer.setAttribute("step", state.step)
    for (slot, buffers) in state.slots.sorted(by: { $0.key < $1.key }) {
      let group = try optimizer.group(slot)
      for (key, values) in buffers.sorted(by: { $0.key < $1.key }) {
        try group.write(key, floats: values, shape: [values.count])
      }
    }
    let rng = try root.group("rng")
    try rng.write(
      "state", integers: run.generatorState.map { Int64(bitPattern: $0) },
      shape: [run.generatorState.count])

    let stream = try root.group("stream")
    let classes = run.stream.tasks.map(\.classes)
    try stream.setAttribute("current_task", reports.count - 1)
    try stream.setAttribute("tasks", classes.count)
    for (index, task) in classes.enumerated() {
      try stream.write(
        String(format: "task_%03d_classes", index), integers: task.map(Int64.init),
        shape: [task.count])
    }
    try stream.write(
      "replay_indices", integers: run.replayIndices.map(Int64.init),
      shape: [run.replayIndices.count])
    try stream.setAttribute("replay_seen", run.replaySamplesSeen)
    let initial = run.state.initialAccuracies
    try stream.write("initial_accuracy_task_il", doubles: initial, shape: [initial.count])
    let ewc = try root.group("ewc")
    for (name, table) in [("fisher", run.ewcFisher), ("anchor", run.ewcAnchors)] {
      let group = try ewc.group(name)
      for (key, values) in table.sorted(by: { $0.key < $1.key }) {
        try group.write(key, floats: values, shape: [values.count])
      }
    }

    let history = try root.group("history")
    for report in reports {
      let group = try history.group(String(format: "task_%03d", report.task))
      try group.write(
        "accuracy_task_il", doubles: report.accuracyTaskIL, shape: [report.accuracyTaskIL.count])
      try group.write(
        "accuracy_class_il", doubles: report.accuracyClassIL,
        shape: [report.accuracyClassIL.count])
      try group.write(
        "oracle_accuracy_class_il", doubles: report.oracleAccuracyClassIL,
        shape: [report.oracleAccuracyClassIL.count])
      let routing = report.routing
      try group.write(
        "decomposition", doubles: routing.decomposition.flatMap { $0 },
        shape: [routing.experts, routing.classes])
      try group.write(
        "counts", integers: routing.counts.flatMap { $0 }.map(Int64.init),
        shape: [routing.experts, routing.classes])
      try group.write("expert_usage", doubles: routing.usage, shape: [routing.experts])
      try group.setAttribute("usage_entropy_bits", routing.usageEntropy)
      try group.setAttribute("sample_entropy_bits", routing.sampleEntropy)
      try group.setAttribute("class_entropy_bits", routing.classEntropy)
      try group.setAttribute("routing_forgetting", report.routingForgetting)
      try group.setAttribute("routing_accuracy", report.routingAccuracy)
      try group.setAttribute("training_seconds", report.trainingSeconds)
      try group.setAttribute("final_loss", report.finalLoss)
      try group.write(
        "epoch_losses", doubles: report.epochLosses, shape: [report.epochLosses.count])
      try group.write(
        "accuracy_before_training_task_il", doubles: [report.forwardTransferTerms.beforeTraining],
        shape: [1])
      try group.setAttribute(
        "lifecycle_events", report.events.map(\.description).joined(separator: "; "))
      let kinds = LifecycleEvent.Kind.allCases
      try group.write(
        "events",
        integers: report.events.flatMap {
          [Int64($0.task), Int64($0.expert), Int64(kinds.firstIndex(of: $0.kind)!)]
        }, shape: [report.events.count, 3])
      let raw = try group.group("routing")
      try raw.setAttribute("samples", routing.samples)
      try raw.setAttribute("correct", routing.correct)
      try raw.setAttribute("entropy_total", routing.entropyTotal)
      try raw.write("gate_totals", doubles: routing.gateTotals, shape: [routing.experts])
      try raw.write(
        "gate_by_class", doubles: routing.gateByClass, shape: [routing.experts, routing.classes])
      try raw.write(
        "samples_by_class", integers: routing.samplesByClass.map(Int64.init),
        shape: [routing.classes])
      try raw.write(
        "predicted_counts", integers: routing.predictedCounts.flatMap { $0 }.map(Int64.init),
        shape: [routing.experts, routing.classes])
    }
    let metrics = try root.group("metrics")
    for (name, rows) in [
      ("accuracy_matrix_task_il", reports.map(\.accuracyTaskIL)),
      ("accuracy_matrix_class_il", reports.map(\.accuracyClassIL)),
    ] {
      // Lower-triangular: entry [i][j] for j ≤ i, NaN above the diagonal.
      let size = rows.count
      var square = [Double](repeating: .nan, count: size * size)
      for (i, row) in rows.enumerated() {
        for (j, value) in row.enumerated() { square[i * size + j] = value }
      }
      try metrics.write(name, doubles: square, shape: [size, size])
    }
  }

  /// One dataset per tensor of `module`, named by its dotted key.
  private static func writeState(_ module: Module, into group: HDF5Group) throws {
    for (key, tensor) in module.state() {
      try group.write(key, floats: tensor.values, shape: tensor.shape)
    }
  }

  // MARK: - Reading

  /// What `expertstream inspect` shows of a checkpoint.
  public struct Summary: Sendable {
    /// One expert.
    public struct ExpertSummary: Sendable {
      public var name: String
      public var kind: String
      public var parameterCount: Int
      public var frozen: Bool
      public var spawnedAtTask: Int
      public var frozenAtTask: Int?
      public var classes: [Int]
    }

    /// One task's record.
    public struct TaskSummary: Sendable {
      public var task: Int
      public var accuracyTaskIL: [Double]
      public var accuracyClassIL: [Double]
      public var decomposition: [[Double]]
      public var usageEntropy: Double
      public var classEntropy: Double
      public var routingForgetting: Double
      /// The share of test samples whose highest-weight expert holds their class (`nil` in
      /// files written before tool version 0.3).
      public var routingAccuracy: Double?
      public var events: String
      /// Class-IL accuracy with oracle routing on each task seen.
      public var oracleAccuracyClassIL: [Double]
      /// The share of test samples whose highest-weight expert is each expert.
      public var expertUsage: [Double]
      /// The mean training loss of each epoch of the task (empty in files written before
      /// tool version 0.2).
      public var epochLosses: [Double]
      /// Seconds spent training the task.
      public var trainingSeconds: Double
    }

    public var path: String
    public var formatVersion: Int
    public var toolVersion: String
    public var scenario: String
    public var scenarioHash: String
    public var policy: String
    public var taskClasses: [[Int]]
    public var experts: [ExpertSummary]
    public var tasks: [TaskSummary]
  }

  /// Reads the summary of the checkpoint at `path`.
  ///
  /// - Throws: ``HDF5Error`` naming the file and object when it is not an HDF5 file, not an
  ///   ExpertStream checkpoint, of a newer format, or missing a part.
  public static func summary(of path: String) throws -> Summary {
    let file = try HDF5File.open(path)
    let root = file.root
    guard root.hasAttribute("format"), try root.stringAttribute("format") == format else {
      throw HDF5Error(
        file: path, path: "/",
        message: "not an ExpertStream checkpoint (no format attribute '\(format)')")
    }
    let version = try root.integerAttribute("format_version")
    guard version <= formatVersion else {
      throw HDF5Error(
        file: path, path: "/",
        message: "format_version \(version) is newer than this tool reads (\(formatVersion))")
    }
    let stream = try root.existingGroup("stream")
    let taskCount = try stream.integerAttribute("tasks")
    let taskClasses = try (0..<taskCount).map {
      try stream.readIntegers(String(format: "task_%03d_classes", $0)).values.map(Int.init)
    }
    let expertsGroup = try root.existingGroup("model").existingGroup("experts")
    let experts = try expertsGroup.memberNames().map { name -> Summary.ExpertSummary in
      let group = try expertsGroup.existingGroup(name)
      let members = try group.memberNames().filter { $0 != "classes" }
      let parameters = try members.reduce(0) { $0 + (try group.shape(of: $1)).reduce(1, *) }
      let frozenAt = try group.integerAttribute("frozen_at_task")
      return Summary.ExpertSummary(
        name: name, kind: try group.stringAttribute("kind"), parameterCount: parameters,
        frozen: try group.integerAttribute("frozen") == 1,
        spawnedAtTask: try group.integerAttribute("spawned_at_task"),
        frozenAtTask: frozenAt < 0 ? nil : frozenAt,
        classes: try group.readIntegers("classes").values.map(Int.init))
    }
    let history = try root.existingGroup("history")
    let tasks = try history.memberNames().map { name -> Summary.TaskSummary in
      let group = try history.existingGroup(name)
      let decomposition = try group.readDoubles("decomposition")
      let columns = decomposition.shape.count == 2 ? decomposition.shape[1] : 0
      return Summary.TaskSummary(
        task: Int(name.dropFirst(5)) ?? 0,
        accuracyTaskIL: try group.readDoubles("accuracy_task_il").values,
        accuracyClassIL: try group.readDoubles("accuracy_class_il").values,
        decomposition: columns == 0
          ? []
          : stride(from: 0, to: decomposition.values.count, by: columns).map {
            Array(decomposition.values[$0..<($0 + columns)])
          },
        usageEntropy: try group.doubleAttribute("usage_entropy_bits"),
        classEntropy: try group.doubleAttribute("class_entropy_bits"),
        routingForgetting: try group.doubleAttribute("routing_forgetting"),
        routingAccuracy: group.hasAttribute("routing_accuracy")
          ? try group.doubleAttribute("routing_accuracy") : nil,
        events: try group.stringAttribute("lifecycle_events"),
        oracleAccuracyClassIL: try group.readDoubles("oracle_accuracy_class_il").values,
        expertUsage: try group.readDoubles("expert_usage").values,
        epochLosses: try group.optionalDoubles("epoch_losses"),
        trainingSeconds: try group.doubleAttribute("training_seconds"))
    }
    return Summary(
      path: path, formatVersion: version, toolVersion: try root.stringAttribute("tool_version"),
      scenario: try root.stringAttribute("scenario"),
      scenarioHash: try root.stringAttribute("scenario_hash"),
      policy: try root.stringAttribute("policy"), taskClasses: taskClasses, experts: experts,
      tasks: tasks)
  }

  // MARK: - Resuming

  /// A run restored from the checkpoint at `path`: its scenario (stored in the file), data,
  /// model, optimiser, random state, stream position and history. Call `run()` on it to
  /// continue with the next task, or add experts to its `model` first.
  ///
  /// - Parameters:
  ///   - dataDirectory: Where to look for the dataset first.
  ///   - makeExpert: The factory of a run with user-defined experts (as given to
  ///     `ContinualRun`); built-in kinds need none.
  public static func load(
    _ path: String, dataDirectory: String? = nil,
    makeExpert: ((inout RandomGenerator) throws -> any Expert)? = nil
  ) throws -> ContinualRun {
    let file = try HDF5File.open(path)
    _ = try summary(of: path)
    let text = try file.root.stringAttribute("scenario")
    let scenario = try Scenario.parse(Data(text.utf8), file: "\(path): /scenario")
    let policy = try file.root.stringAttribute("policy")
    let (train, test) = try scenario.loadDatasets(dataDirectory: dataDirectory)
    let run = try ContinualRun(
      scenario: scenario, stream: TaskStream(scenario: scenario, train: train, test: test),
      policy: policy, makeExpert: makeExpert)
    try restore(run, from: path)
    return run
  }

  /// Puts `run` where the checkpoint at `path` left it (see ``resumeState(from:scenario:policy:)``).
  ///
  /// - Throws: ``HDF5Error`` naming the file and the object (`/model/experts/expert_000/…`)
  ///   when the checkpoint does not fit the run: another scenario or policy, or a tensor of
  ///   the wrong shape.
  public static func restore(_ run: ContinualRun, from path: String) throws {
    let state = try resumeState(from: path, scenario: run.scenario, policy: run.policy)
    do {
      try run.restore(state)
    } catch let error as ModuleError {
      switch error {
      case .shapeMismatch(let key, let expected, let found):
        throw HDF5Error(
          file: path, path: objectPath(ofModelKey: key),
          message: "shape \(found) does not fit the model's \(expected)")
      case .missingKey(let key):
        throw HDF5Error(file: path, path: objectPath(ofModelKey: key), message: "missing dataset")
      case .unusedKey(let key):
        throw HDF5Error(
          file: path, path: objectPath(ofModelKey: key), message: "not a tensor of the model")
      case .invalidConfiguration(let message):
        throw HDF5Error(file: path, path: "/model", message: message)
      }
    }
  }

  /// The checkpoint object holding the mixture tensor `key` (`experts.3.output.weight` →
  /// `/model/experts/expert_003/output.weight`).
  static func objectPath(ofModelKey key: String) -> String {
    let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
    if parts.count == 3, parts[0] == "experts", let index = Int(parts[1]) {
      return String(format: "/model/experts/expert_%03d/", index) + parts[2]
    }
    return "/model/gate/" + key.dropFirst("gate.".count)
  }

  /// The state a run needs to continue from the checkpoint at `path`.
  ///
  /// - Parameter scenario: The scenario being resumed; its hash must equal the
  ///   checkpoint's, so a resumed run continues the same stream.
  /// - Throws: ``HDF5Error`` naming the file and object when a part is missing or does not
  ///   fit, or the scenario differs.
  public static func resumeState(from path: String, scenario: Scenario, policy: String) throws
    -> ContinualRunState
  {
    let file = try HDF5File.open(path)
    let root = file.root
    _ = try summary(of: path)
    let storedHash = try root.stringAttribute("scenario_hash")
    guard storedHash == scenario.hash else {
      throw HDF5Error(
        file: path, path: "/",
        message:
          "written by another scenario (hash \(storedHash), this run's is \(scenario.hash)); "
          + "resume with the same scenario file and --set overrides")
    }
    let storedPolicy = try root.stringAttribute("policy")
    guard storedPolicy == policy else {
      throw HDF5Error(
        file: path, path: "/",
        message: "written by policy \(storedPolicy), not \(policy)")
    }
    var modelState: [String: Tensor] = [:]
    let experts = try root.existingGroup("model").existingGroup("experts")
    var records: [ExpertRecord] = []
    for (index, name) in try experts.memberNames().enumerated() {
      let group = try experts.existingGroup(name)
      for key in try group.memberNames() where key != "classes" {
        modelState["experts.\(index).\(key)"] = try readTensor(group, key)
      }
      let frozenAt = try group.integerAttribute("frozen_at_task")
      records.append(
        ExpertRecord(
          id: index, spawnedAtTask: try group.integerAttribute("spawned_at_task"),
          frozenAtTask: frozenAt < 0 ? nil : frozenAt,
          classes: try group.readIntegers("classes").values.map(Int.init)))
    }
    let gate = try root.existingGroup("model").existingGroup("gate")
    for key in try gate.memberNames() {
      modelState["gate.\(key)"] = try readTensor(gate, key)
    }
    let optimizerGroup = try root.existingGroup("optimizer")
    var optimizer = OptimizerState(step: try optimizerGroup.integerAttribute("step"))
    for slot in try optimizerGroup.memberNames() {
      let group = try optimizerGroup.existingGroup(slot)
      for key in try group.memberNames() {
        optimizer.slots[slot, default: [:]][key] = try group.readFloats(key).values
      }
    }
    let generator = try root.existingGroup("rng").readIntegers("state").values.map {
      UInt64(bitPattern: $0)
    }
    let stream = try root.existingGroup("stream")
    var tables: [String: [String: [Float]]] = [:]
    if root.contains("ewc") {
      let ewc = try root.existingGroup("ewc")
      for name in ["fisher", "anchor"] where ewc.contains(name) {
        let group = try ewc.existingGroup(name)
        for key in try group.memberNames() {
          tables[name, default: [:]][key] = try group.readFloats(key).values
        }
      }
    }
    let initial = try stream.readDoubles("initial_accuracy_task_il").values
    let history = try root.existingGroup("history")
    let kinds = LifecycleEvent.Kind.allCases
    var log: [LifecycleEvent] = []
    let reports = try history.memberNames().map { name -> TaskReport in
      let group = try history.existingGroup(name)
      let raw = try group.existingGroup("routing")
      let shape = try raw.shape(of: "gate_by_class")
      guard shape.count == 2 else {
        throw HDF5Error(
          file: path, path: "/history/\(name)/routing/gate_by_class", message: "expected [E, K]")
      }
      let (expertCount, classes) = (shape[0], shape[1])
      func table(_ values: [Int64]) -> [[Int]] {
        (0..<expertCount).map { row in values[(row * classes)..<((row + 1) * classes)].map(Int.init)
        }
      }
      let routing = try RoutingStatistics(
        experts: expertCount, classes: classes, samples: try raw.integerAttribute("samples"),
        correct: try raw.integerAttribute("correct"),
        entropyTotal: try raw.doubleAttribute("entropy_total"),
        gateTotals: try raw.readDoubles("gate_totals").values,
        gateByClass: try raw.readDoubles("gate_by_class").values,
        samplesByClass: try raw.readIntegers("samples_by_class").values.map(Int.init),
        counts: table(try group.readIntegers("counts").values),
        predictedCounts: table(try raw.readIntegers("predicted_counts").values))
      let eventValues = try group.readIntegers("events").values.map(Int.init)
      let events = stride(from: 0, to: eventValues.count, by: 3).map {
        LifecycleEvent(
          task: eventValues[$0], expert: eventValues[$0 + 1],
          kind: kinds[min(max(eventValues[$0 + 2], 0), kinds.count - 1)])
      }
      log += events
      let before = try group.readDoubles("accuracy_before_training_task_il").values.first ?? 0
      let index = Int(name.dropFirst(5)) ?? 0
      var report = TaskReport(
        task: index,
        accuracyTaskIL: try group.readDoubles("accuracy_task_il").values,
        accuracyClassIL: try group.readDoubles("accuracy_class_il").values,
        oracleAccuracyClassIL: try group.readDoubles("oracle_accuracy_class_il").values,
        routing: routing, routingForgetting: try group.doubleAttribute("routing_forgetting"),
        trainingSeconds: try group.doubleAttribute("training_seconds"),
        finalLoss: try group.doubleAttribute("final_loss"), events: events)
      report.forwardTransferTerms = (before, index < initial.count ? initial[index] : 0)
      report.epochLosses = try group.optionalDoubles("epoch_losses")
      report.routingAccuracy =
        group.hasAttribute("routing_accuracy")
        ? try group.doubleAttribute("routing_accuracy")
        : routing.routingAccuracy(expertClasses: records.map(\.classes))
      return report
    }
    return ContinualRunState(
      nextTask: try stream.integerAttribute("current_task") + 1, modelState: modelState,
      records: records, optimizer: optimizer, generator: generator,
      replayBuffer: try stream.readIntegers("replay_indices").values.map(Int.init),
      replaySeen: try stream.integerAttribute("replay_seen"), fisher: tables["fisher"] ?? [:],
      anchors: tables["anchor"] ?? [:], reports: reports, lifecycleLog: log,
      initialAccuracies: initial)
  }

  private static func readTensor(_ group: HDF5Group, _ key: String) throws -> Tensor {
    let (shape, values) = try group.readFloats(key)
    return try Tensor(shape: shape, values: values)
  }
}

extension HDF5Group {
  /// The values of the dataset `name`, or an empty array when there is none (a part added
  /// to the schema after the file was written).
  fileprivate func optionalDoubles(_ name: String) throws -> [Double] {
    try memberNames().contains(name) ? readDoubles(name).values : []
  }
}
