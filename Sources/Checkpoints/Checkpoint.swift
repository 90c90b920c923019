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
  /// The `format_version` attribute of the root group: 2 since checkpoints carry
  /// `content_sha256` (required from this version on); files of version 1 are still read.
  public static let formatVersion = 2
  /// The root attribute holding the SHA-256 of everything else in the file (see
  /// ``HDF5File/contentDigest(excludingRootAttribute:)``), checked before anything is read.
  public static let contentDigestAttribute = "content_sha256"

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
    try root.setAttribute("policy", run.policy.name.rawValue)
    try root.setAttribute("dataset_sha256", run.dataDigest)
    try root.setAttribute("numerics", BLAS.numericsDescription)

    let model = try root.group("model")
    let experts = try model.group("experts")
    for (index, expert) in run.model.experts.enumerated() {
      let group = try experts.group(String(format: "expert_%03d", index))
      try writeState(expert, into: group)
      let record = run.records[index]
      // Built-in and registered kinds by their scenario name, others by their Swift type.
      try group.setAttribute("kind", run.kindName(ofExpert: index))
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
    // Last: it covers everything written before it.
    try root.setAttribute(
      contentDigestAttribute,
      root.file.contentDigest(excludingRootAttribute: contentDigestAttribute))
  }

  /// One dataset per tensor of `module`, named by its dotted key.
  private static func writeState(_ module: Module, into group: HDF5Group) throws {
    for (key, tensor) in module.state() {
      try group.write(key, floats: tensor.values, shape: tensor.shape)
    }
  }

  // MARK: - Resuming

  /// A run restored from the checkpoint at `path`: its scenario (stored in the file), data,
  /// model, optimiser, random state, stream position and history. Call `run()` on it to
  /// continue with the next task, or add experts to its `model` first.
  ///
  /// The policy is found by the name the file records and the experts by the scenario's
  /// `model.expert`, built-in or registered (``PolicyName/register(_:)``,
  /// ``ExpertKind/register(_:make:)``): a program that registers its kinds and policies
  /// resumes its own checkpoints with no closure.
  ///
  /// - Parameters:
  ///   - dataDirectory: Where to look for the dataset first.
  ///   - makeExpert: The factory of a run whose experts came from a factory given to
  ///     `ContinualRun` (not from a kind); built-in and registered kinds need none.
  /// - Throws: ``ScenarioError`` when the policy or expert kind is neither built in nor
  ///   registered in this process, and what ``restore(_:from:)`` throws.
  public static func load(
    _ path: String, dataDirectory: String? = nil,
    makeExpert: ((ExpertContext, inout RandomGenerator) throws -> any Expert)? = nil
  ) throws -> ContinualRun {
    let file = try HDF5File.open(path)
    _ = try summary(of: path)
    let text = try file.root.stringAttribute("scenario")
    let scenario = try Scenario.parse(Data(text.utf8), file: "\(path): /scenario")
    let policy = try file.root.stringAttribute("policy")
    let (train, test) = try scenario.loadDatasets(dataDirectory: dataDirectory)
    let run = try ContinualRun(
      scenario: scenario, stream: TaskStream(scenario: scenario, train: train, test: test),
      policy: PolicyName(rawValue: policy), makeExpert: makeExpert)
    try restore(run, from: path)
    return run
  }

  /// Puts `run` where the checkpoint at `path` left it (see ``resumeState(from:scenario:policy:)``).
  ///
  /// The checkpoint must have been written on the data `run` uses: its `dataset_sha256`
  /// attribute (absent in files written before it existed, which are not checked)
  /// must equal the run's `dataDigest`, and its replay buffer must index `run`'s training
  /// set.
  ///
  /// - Throws: ``HDF5Error`` naming the file and the object (`/model/experts/expert_000/…`)
  ///   when the checkpoint does not fit the run: another scenario, policy or dataset, or a
  ///   tensor of the wrong shape.
  public static func restore(_ run: ContinualRun, from path: String) throws {
    let shapes = Dictionary(
      uniqueKeysWithValues: run.model.state().map { ($0.key, $0.tensor.shape) })
    let file = try HDF5File.open(path)
    let state = try CheckpointReader(file: file).resumeState(
      scenario: run.scenario, policy: run.policy.name.rawValue, modelShapes: shapes)
    if file.root.hasAttribute("dataset_sha256") {
      let stored = try file.root.stringAttribute("dataset_sha256")
      let current = run.dataDigest
      guard stored == current else {
        throw HDF5Error(
          file: path, path: "/",
          message:
            "attribute dataset_sha256 is \(stored), but the data of this run has \(current): "
            + "the checkpoint was written on other data; resume with the dataset it was "
            + "trained on (--data-dir), or start the run again without --resume")
      }
    }
    let trainCount = run.stream.train.count
    if let bad = state.replayBuffer.firstIndex(where: { $0 >= trainCount }) {
      throw HDF5Error(
        file: path, path: "/stream/replay_indices",
        message:
          "index \(state.replayBuffer[bad]) at position \(bad) is out of range for the "
          + "training set's \(trainCount) samples")
    }
    let classCount = run.model.classCount
    if let report = state.reports.first(where: { $0.routing.classes != classCount }) {
      throw HDF5Error(
        file: path, path: String(format: "/history/task_%03d/decomposition", report.task),
        message: "has \(report.routing.classes) classes, the model of this run \(classCount)")
    }
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
  /// Every part is checked as for ``summary(of:)``, and against the run's scenario: the
  /// task count, the experts' records, the optimiser's and EWC's tables against the
  /// model's tensors, the random state.
  ///
  /// - Parameter scenario: The scenario being resumed; its hash must equal the
  ///   checkpoint's, so a resumed run continues the same stream.
  /// - Throws: ``HDF5Error`` naming the file and object when a part is missing, damaged
  ///   or does not fit, or the scenario differs.
  public static func resumeState(from path: String, scenario: Scenario, policy: String) throws
    -> ContinualRunState
  {
    try CheckpointReader(file: HDF5File.open(path)).resumeState(
      scenario: scenario, policy: policy)
  }
}
