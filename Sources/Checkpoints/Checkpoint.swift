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

  /// Writes `state` to `path`, through a temporary file renamed into place: a crash never
  /// leaves a half-written file under `path`.
  ///
  /// ``read(_:)`` gives the same state back; `run.state` is a run's state after the tasks
  /// it finished.
  ///
  /// - Parameter toolVersion: The writing tool's version (the root's `tool_version`).
  public static func write(_ state: ContinualRunState, to path: String, toolVersion: String)
    throws
  {
    try HDF5File.createAtomically(path) { root in
      try writeContents(state, into: root, toolVersion: toolVersion)
    }
  }

  private static func writeContents(
    _ state: ContinualRunState, into root: HDF5Group, toolVersion: String
  ) throws {
    try root.setAttribute("format", format)
    try root.setAttribute("format_version", formatVersion)
    try root.setAttribute("tool_version", toolVersion)
    try root.setAttribute(
      "scenario", String(decoding: state.scenario.canonicalJSON, as: UTF8.self))
    try root.setAttribute("scenario_hash", state.scenario.hash)
    try root.setAttribute("policy", state.policy.rawValue)
    if let digest = state.dataDigest { try root.setAttribute("dataset_sha256", digest) }
    if let numerics = state.numerics { try root.setAttribute("numerics", numerics) }

    let model = try root.group("model")
    let experts = try model.group("experts")
    for (index, kind) in state.expertKinds.enumerated() {
      let group = try experts.group(String(format: "expert_%03d", index))
      try writeTensors(of: state.modelState, prefix: "experts.\(index).", into: group)
      let record = state.records[index]
      try group.setAttribute("kind", kind)
      try group.setAttribute("frozen", record.frozenAtTask != nil ? 1 : 0)
      try group.setAttribute("spawned_at_task", record.spawnedAtTask)
      try group.setAttribute("frozen_at_task", record.frozenAtTask ?? -1)
      try group.write(
        "classes", integers: record.classes.map(Int64.init), shape: [record.classes.count])
    }
    let gate = try model.group("gate")
    try gate.setAttribute("kind", state.gateKind)
    try writeTensors(of: state.modelState, prefix: "gate.", into: gate)

    let optimizer = try root.group("optimizer")
    try optimizer.setAttribute("step", state.optimizer.step)
    for (slot, buffers) in state.optimizer.slots.sorted(by: { $0.key < $1.key }) {
      let group = try optimizer.group(slot)
      for (key, values) in buffers.sorted(by: { $0.key < $1.key }) {
        try group.write(key, floats: values, shape: [values.count])
      }
    }
    let rng = try root.group("rng")
    try rng.write(
      "state", integers: state.generator.map { Int64(bitPattern: $0) },
      shape: [state.generator.count])

    let stream = try root.group("stream")
    let classes = state.scenario.classGroups
    try stream.setAttribute("current_task", state.reports.count - 1)
    try stream.setAttribute("tasks", classes.count)
    for (index, task) in classes.enumerated() {
      try stream.write(
        String(format: "task_%03d_classes", index), integers: task.map(Int64.init),
        shape: [task.count])
    }
    try stream.write(
      "replay_indices", integers: state.replayBuffer.map(Int64.init),
      shape: [state.replayBuffer.count])
    try stream.setAttribute("replay_seen", state.replaySeen)
    let initial = state.initialAccuracies
    try stream.write("initial_accuracy_task_il", doubles: initial, shape: [initial.count])
    let ewc = try root.group("ewc")
    for (name, table) in [("fisher", state.fisher), ("anchor", state.anchors)] {
      let group = try ewc.group(name)
      for (key, values) in table.sorted(by: { $0.key < $1.key }) {
        try group.write(key, floats: values, shape: [values.count])
      }
    }

    let history = try root.group("history")
    for report in state.reports {
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
    try metrics.setAttribute("dataset", state.scenario.dataset.name)
    try metrics.setAttribute("stored_samples", state.storedSamples)
    for (name, rows) in [
      ("accuracy_matrix_task_il", state.reports.map(\.accuracyTaskIL)),
      ("accuracy_matrix_class_il", state.reports.map(\.accuracyClassIL)),
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

  /// One dataset per tensor of `modelState` whose key starts with `prefix`, named by the
  /// rest of its dotted key (`experts.3.output.weight` → `output.weight`).
  private static func writeTensors(
    of modelState: [String: Tensor], prefix: String, into group: HDF5Group
  ) throws {
    for (key, tensor) in modelState.sorted(by: { $0.key < $1.key }) where key.hasPrefix(prefix) {
      try group.write(
        String(key.dropFirst(prefix.count)), floats: tensor.values, shape: tensor.shape)
    }
  }

  // MARK: - Reading and resuming

  /// The state stored in the checkpoint at `path`, as ``write(_:to:toolVersion:)`` wrote it.
  ///
  /// The file is opened once and every part is checked before it is returned: the content
  /// digest, everything `inspect` shows, the stored scenario against its hash and the
  /// stream's tasks, the experts' records, the optimiser's and EWC's tables against the
  /// model's tensors, the random state.
  ///
  /// - Throws: ``HDF5Error`` naming the file and the object when a part is missing or
  ///   damaged; ``ScenarioError`` when the stored scenario does not parse.
  public static func read(_ path: String) throws -> ContinualRunState {
    try CheckpointReader(file: HDF5File.open(path)).state()
  }

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
    let state = try read(path)
    let scenario = state.scenario
    let (train, test) = try scenario.loadDatasets(dataDirectory: dataDirectory)
    let run = try ContinualRun(
      scenario: scenario, stream: TaskStream(scenario: scenario, train: train, test: test),
      policy: state.policy, makeExpert: makeExpert)
    try restore(run, from: state, file: path)
    return run
  }

  /// Puts `run` where the checkpoint at `path` left it.
  ///
  /// - Throws: ``HDF5Error`` naming the file and the object when the checkpoint is damaged
  ///   or does not fit the run (see ``restore(_:from:file:)``).
  public static func restore(_ run: ContinualRun, from path: String) throws {
    try restore(run, from: read(path), file: path)
  }

  /// Puts `run` where `state`, read from the checkpoint `file`, left it.
  ///
  /// The state must come from the same scenario (by hash) and policy, computed with the
  /// numerics of this process, on the data `run` uses: its `dataDigest` (absent in files
  /// written before it existed, which are not checked) must equal the run's, and its
  /// replay buffer must index `run`'s training set.
  ///
  /// - Throws: ``HDF5Error`` naming `file` and the object (`/model/experts/expert_000/…`)
  ///   when the state does not fit the run: another scenario, policy, numerics or dataset,
  ///   or a tensor of the wrong shape.
  public static func restore(_ run: ContinualRun, from state: ContinualRunState, file: String)
    throws
  {
    func mismatch(_ object: String, _ message: String) -> HDF5Error {
      HDF5Error(file: file, path: object, message: message)
    }
    guard state.scenario.hash == run.scenario.hash else {
      throw mismatch(
        "/",
        "written by another scenario (hash \(state.scenario.hash), this run's is "
          + "\(run.scenario.hash)); resume with the same scenario file and --set overrides")
    }
    guard state.policy == run.policy.name else {
      throw mismatch("/", "written by policy \(state.policy), not \(run.policy.name)")
    }
    let current = BLAS.numericsDescription
    if let stored = state.numerics, stored != current {
      throw mismatch(
        "/",
        "attribute numerics is '\(stored)', but this process computes with '\(current)': "
          + "the resumed run would not match an uninterrupted one; resume with the same "
          + "--numerics on a CPU of the same type, or start again without --resume")
    }
    if let stored = state.dataDigest, stored != run.dataDigest {
      throw mismatch(
        "/",
        "attribute dataset_sha256 is \(stored), but the data of this run has \(run.dataDigest): "
          + "the checkpoint was written on other data; resume with the dataset it was "
          + "trained on (--data-dir), or start the run again without --resume")
    }
    let trainCount = run.stream.train.count
    if let bad = state.replayBuffer.firstIndex(where: { $0 >= trainCount }) {
      throw mismatch(
        "/stream/replay_indices",
        "index \(state.replayBuffer[bad]) at position \(bad) is out of range for the "
          + "training set's \(trainCount) samples")
    }
    let classCount = run.model.classCount
    if let report = state.reports.first(where: { $0.routing.classes != classCount }) {
      throw mismatch(
        String(format: "/history/task_%03d/decomposition", report.task),
        "has \(report.routing.classes) classes, the model of this run \(classCount)")
    }
    do {
      try run.restore(state)
    } catch let error as ModuleError {
      switch error {
      case .shapeMismatch(let key, let expected, let found):
        throw mismatch(
          objectPath(ofModelKey: key), "shape \(found) does not fit the model's \(expected)")
      case .missingKey(let key):
        throw mismatch(objectPath(ofModelKey: key), "missing dataset")
      case .unusedKey(let key):
        throw mismatch(objectPath(ofModelKey: key), "not a tensor of the model")
      case .invalidConfiguration(let message):
        throw mismatch("/model", message)
      case .notCopyable:
        throw mismatch("/model", error.description)
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
}
