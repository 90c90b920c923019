import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// Runs a scenario's task stream under one ``LifecyclePolicy``, built-in or a user's.
///
/// The policy decides what is spawned, reused, frozen and trained around each task (see
/// ``LifecyclePolicy`` for the order of its calls); the run holds everything else: the
/// mixture, the optimiser, the seeded random generator, the replay reservoir, EWC's
/// tables and the experts' records, all of which ``state`` hands to a checkpoint. The
/// built-in MoE policies are `shared`, `spawn-and-freeze` and `reuse-or-spawn`, whose gate
/// is `trainable`, has the rows of frozen experts frozen (`rows-frozen`, softmax gate), or
/// is trained on a seeded reservoir of `replay_samples` earlier samples mixed into each
/// batch (`replay`); the single-network baselines are `fine-tune`, `ewc` (online EWC),
/// `replay` (experience replay) and `joint` (training on every task seen so far).
public final class ContinualRun {
  /// The scenario.
  public let scenario: Scenario
  /// The stream.
  public let stream: TaskStream
  /// The identity of the stream's data: the SHA-256 of the training set's labels and
  /// pixels followed by the test set's, as loaded (so the same for gzipped and plain files).
  ///
  /// Computed on first use; a run's stream never changes. Checkpoints record it as
  /// `dataset_sha256`.
  public private(set) lazy var dataDigest: String = {
    var hash = SHA256()
    for dataset in [stream.train, stream.test] {
      hash.update(dataset.labels)
      hash.update(dataset.pixels)
    }
    return hash.hexDigest()
  }()
  /// The lifecycle policy; `policy.name` is the name metrics and checkpoints record.
  public let policy: any LifecyclePolicy
  /// The mixture being trained.
  public private(set) var model: MixtureOfExperts
  /// Per expert: spawn, freeze and classes. Experts added to `model` by hand between tasks
  /// are recorded as spawned at the next task, and experts frozen by hand as frozen after
  /// the last finished task (-1: before the first task).
  public var records: [ExpertRecord] {
    let next = finishedReports.count
    while storedRecords.count < model.experts.count {
      storedRecords.append(
        ExpertRecord(id: storedRecords.count, spawnedAtTask: next, frozenAtTask: nil, classes: []))
    }
    for index in storedRecords.indices
    where storedRecords[index].frozenAtTask == nil && model.isFrozen(expert: index) {
      storedRecords[index].frozenAtTask = next - 1
    }
    return storedRecords
  }
  var storedRecords: [ExpertRecord] = []

  var generator: RandomGenerator

  /// The optimiser's state (moments keyed by parameter path), for checkpoints.
  public var optimizerState: OptimizerState { optimizer.state }
  /// The random generator's state, for checkpoints.
  public var generatorState: [UInt64] { generator.state }
  /// The sample indices (into the training set) held in the replay buffer.
  public var replayIndices: [Int] { replayBuffer }
  /// The most training samples of other tasks than the one being trained that the run has
  /// held at once: its replay buffer (which only grows), or the earlier tasks' samples the
  /// policy trains on again (`joint`); 0 for a run that stores no sample.
  public var storedSamples: Int {
    let retrained = stream.tasks.prefix(finishedReports.count).map {
      policy.trainingIndices(for: $0, in: self).count - $0.trainIndices.count
    }
    return max(replayBuffer.count, retrained.max() ?? 0)
  }
  var finishedReports: [TaskReport] = []
  /// Task-IL accuracy of the untrained model on each task (forward transfer's baseline).
  var initialAccuracies: [Double] = []

  /// Task-IL accuracy of the current model on `task`'s test samples, in evaluation mode.
  func taskAccuracy(_ task: ContinualTask) throws -> Double {
    model.train(false)
    defer { model.train(true) }
    // Experts not yet assigned classes (before their first task) predict the task's.
    let classes = records.map { $0.classes.isEmpty ? task.classes : $0.classes + task.classes }
    return try accuracy(
      task.testIndices, head: OutputHead(allowedClasses: task.classes, expertClasses: classes),
      routing: taskRouting(task))
  }

  /// The state after the tasks finished so far, for a checkpoint.
  public var state: ContinualRunState {
    ContinualRunState(
      scenario: scenario, policy: policy.name, dataDigest: dataDigest,
      numerics: BLAS.numericsDescription,
      expertKinds: model.experts.indices.map(kindName(ofExpert:)),
      gateKind: String(describing: type(of: model.gate)),
      storedSamples: storedSamples, nextTask: finishedReports.count,
      modelState: Dictionary(uniqueKeysWithValues: model.state().map { ($0.key, $0.tensor) }),
      records: records, optimizer: optimizer.state, generator: generator.state,
      replayBuffer: replayBuffer, replaySeen: replaySeen, fisher: fisher, anchors: anchors,
      reports: finishedReports, lifecycleLog: model.lifecycleLog,
      initialAccuracies: initialAccuracies)
  }

  /// Puts the run where `state` left it: experts spawned and frozen as recorded, weights,
  /// optimiser, random state, replay buffer and finished reports restored; ``run(progress:)``
  /// then continues with task `state.nextTask`.
  ///
  /// - Throws: ``ModuleError`` when the state does not fit the scenario's model, or its
  ///   replay counts contradict each other (a damaged checkpoint).
  public func restore(_ state: ContinualRunState) throws {
    guard state.replaySeen >= state.replayBuffer.count else {
      throw ModuleError.invalidConfiguration(
        "/stream replay_seen is \(state.replaySeen), fewer than the \(state.replayBuffer.count) "
          + "samples of /stream/replay_indices: the checkpoint is damaged; resume from another "
          + "one or start the run again")
    }
    var scratch = RandomGenerator(seed: 0)
    while model.experts.count < state.records.count {
      let task = state.records[model.experts.count].spawnedAtTask
      try model.addExpert(try newExpert(for: task, using: &scratch), using: &scratch)
    }
    if let gate = model.gate as? EvidenceGate {
      try gate.makeRoom(
        forState: Dictionary(
          uniqueKeysWithValues: state.modelState.filter { $0.key.hasPrefix("gate.") }.map {
            (String($0.key.dropFirst(5)), $0.value)
          }))
    }
    try model.loadState(state.modelState)
    storedRecords = state.records
    for (index, record) in records.enumerated() where record.frozenAtTask != nil {
      try model.freeze(expert: index)
    }
    if scenario.lifecycle.gate == .rowsFrozen, model.gate is SoftmaxGate {
      let frozen = records.indices.filter { records[$0].frozenAtTask != nil }
      if !frozen.isEmpty { try model.freezeGate(rows: frozen) }
    }
    model.restoreLifecycleLog(state.lifecycleLog)
    optimizer = makeOptimizer()
    optimizer.state = state.optimizer
    generator = try RandomGenerator(state: state.generator)
    replayBuffer = state.replayBuffer
    replaySeen = state.replaySeen
    fisher = state.fisher
    anchors = state.anchors
    finishedReports = state.reports
    initialAccuracies = state.initialAccuracies
    decompositionAtTaskEnd = [:]
    for report in state.reports {
      let decomposition = report.routing.decomposition
      for label in stream.tasks[report.task].classes {
        decompositionAtTaskEnd[label] = decomposition.map { $0[label] }
      }
    }
  }

  /// The number of samples the replay reservoir has been offered.
  public var replaySamplesSeen: Int { replaySeen }
  /// EWC's accumulated Fisher diagonal, by parameter key.
  public var ewcFisher: [String: [Float]] { fisher }
  /// EWC's anchor weights, by parameter key.
  public var ewcAnchors: [String: [Float]] { anchors }
  /// Builds every expert of the run: the scenario kind's factory or the one given.
  let makeExpert: (ExpertContext, inout RandomGenerator) throws -> any Expert
  /// Whether ``makeExpert`` is the scenario kind's factory (no factory was given).
  let makesScenarioKind: Bool
  /// The types of the experts the scenario kind's factory made.
  var scenarioKindTypes: Set<ObjectIdentifier> = []
  var optimizer: any Optimizer
  private var replayBuffer: [Int] = []
  private var replaySeen = 0
  var fisher: [String: [Float]] = [:]
  var anchors: [String: [Float]] = [:]
  var decompositionAtTaskEnd: [Int: [Double]] = [:]
  /// The experts' outputs on test batches, reused by evaluations while an expert is unchanged.
  let evaluationMemo = ExpertOutputMemo()
  /// Frozen experts' first-layer rows on replayed samples, reused by training steps.
  let replayedRows = ReplayedRowMemo()
  /// The batch the training loop is stepping on, for ``trainStep(input:labels:head:objective:)``
  /// to find what ``replayedRows`` knows of it: its sample indices, its input (used only
  /// when the policy passes that very tensor on) and its replayed rows.
  var replayedBatch: (samples: [Int], input: Tensor, replayedRows: Range<Int>)?

  /// Samples per evaluation batch: small enough that evaluating every expert of a large
  /// mixture stays well below the training step's memory.
  static let evaluationBatch = 256

  /// A run of `stream` under the policy named `policy` (the scenario's unless given),
  /// built-in or registered.
  ///
  /// - Parameter makeExpert: Builds every expert of the run (initial, spawned and restored)
  ///   instead of the scenario's `model.expert` kind: plug your own ``Expert`` type in here,
  ///   or register it as a kind (``ExpertKind/register(_:make:)``) and name it in the
  ///   scenario. With an attentive gate its hidden size must be the context's
  ///   ``ExpertContext/hiddenCount``.
  /// - Throws: ``ScenarioError`` for a policy or expert kind that is neither built in nor
  ///   registered; ``ModuleError`` when an expert does not fit the mixture.
  public convenience init(
    scenario: Scenario, stream: TaskStream, policy: PolicyName? = nil,
    makeExpert: ((ExpertContext, inout RandomGenerator) throws -> any Expert)? = nil
  ) throws {
    let name = policy ?? scenario.lifecycle.policy
    guard let found = name.lifecyclePolicy else {
      throw ScenarioError(
        file: "--policy", path: name.rawValue,
        message: "unknown policy; one of "
          + PolicyName.known.map(\.rawValue).joined(separator: ", "))
    }
    try self.init(scenario: scenario, stream: stream, policy: found, makeExpert: makeExpert)
  }

  /// A run of `stream` under `policy`, which need not be registered (but then a checkpoint
  /// of the run is only resumed through ``restore(_:)`` on a run given the same policy).
  ///
  /// - Parameter makeExpert: As for the initialiser taking the policy's name.
  /// - Throws: ``ScenarioError`` for an expert kind that is neither built in nor registered;
  ///   ``ModuleError`` when an expert does not fit the mixture.
  public init(
    scenario: Scenario, stream: TaskStream, policy: any LifecyclePolicy,
    makeExpert: ((ExpertContext, inout RandomGenerator) throws -> any Expert)? = nil
  ) throws {
    self.scenario = scenario
    self.stream = stream
    self.policy = policy
    let kind = scenario.model.expert
    guard let make = makeExpert ?? kind.factory else {
      throw ScenarioError(
        file: scenario.name, path: "model.expert",
        message: "unknown expert kind '\(kind)'; one of "
          + ExpertKind.known.map(\.rawValue).joined(separator: ", ")
          + " (register a kind of your own with ExpertKind.register(_:make:) first)")
    }
    self.makeExpert = make
    makesScenarioKind = makeExpert == nil
    var generator = RandomGenerator(seed: UInt64(scenario.training.seed))
    let initial = policy.initialExpertCount(for: scenario)
    let context = ExpertContext(scenario: scenario, task: 0)
    let experts: [any Expert] = try (0..<initial).map { _ in try make(context, &generator) }
    let gate: any Gate =
      policy.isSingleNetwork
      ? SingleExpertGate() : try Self.makeGate(scenario, experts: initial, using: &generator)
    self.generator = generator
    model = try MixtureOfExperts(experts: experts, gate: gate)
    if makesScenarioKind { scenarioKindTypes = Set(experts.map { ObjectIdentifier(type(of: $0)) }) }
    storedRecords = (0..<initial).map {
      ExpertRecord(id: $0, spawnedAtTask: 0, frozenAtTask: nil, classes: [])
    }
    optimizer = SGD(learningRate: 0)
    optimizer = makeOptimizer()
  }

  /// A new expert for `task` from ``makeExpert``, its type noted when it is the scenario
  /// kind's.
  func newExpert(for task: Int, using generator: inout RandomGenerator) throws -> any Expert {
    let expert = try makeExpert(ExpertContext(scenario: scenario, task: task), &generator)
    if makesScenarioKind { scenarioKindTypes.insert(ObjectIdentifier(type(of: expert))) }
    return expert
  }

  /// The name a checkpoint records as expert `index`'s kind: the scenario's `model.expert`
  /// for the built-in expert type and for experts of a type the scenario's kind made (a
  /// registered kind's); otherwise the Swift type's name (experts of a factory given to the
  /// run, or added by hand).
  ///
  /// - Precondition: `index` is an expert of ``model``.
  public func kindName(ofExpert index: Int) -> String {
    let expert = model.experts[index]
    return expert is FeatureExpert || scenarioKindTypes.contains(ObjectIdentifier(type(of: expert)))
      ? scenario.model.expert.rawValue : String(describing: type(of: expert))
  }

  static func makeGate(_ scenario: Scenario, experts: Int, using generator: inout RandomGenerator)
    throws -> any Gate
  {
    let lifecycle = scenario.lifecycle
    if lifecycle.gate.usesEvidence {
      return try EvidenceGate(
        inputCount: scenario.sampleShape.reduce(1, *),
        settings: EvidenceSettings(kind: lifecycle.evidenceKind, rank: lifecycle.evidenceRank),
        calibration: lifecycle.evidenceCalibration, expertCount: experts,
        learned: lifecycle.gate == .hybrid
          ? try makeLearnedGate(scenario, experts: experts, using: &generator) : nil,
        temperature: lifecycle.evidenceTemperature)
    }
    return try makeLearnedGate(scenario, experts: experts, using: &generator)
  }

  /// The scenario's softmax or attentive gate.
  private static func makeLearnedGate(
    _ scenario: Scenario, experts: Int, using generator: inout RandomGenerator
  ) throws -> any Gate {
    let trunk: Sequential
    if let architecture = scenario.model.expert.paperArchitecture {
      trunk = try architecture.makeGateTrunk(using: &generator)
    } else {
      trunk = try perceptronTrunk(
        inputCount: scenario.sampleShape.reduce(1, *), widths: scenario.model.gateTrunkWidths,
        rectifyLast: true,
        using: &generator)
    }
    return scenario.model.gate == .attentive
      ? try AttentiveGate(
        trunk: trunk, hiddenCount: scenario.hiddenCount, expertCount: experts,
        using: &generator)
      : try SoftmaxGate(
        trunk: trunk, hiddenCount: scenario.gateHiddenCount, expertCount: experts,
        using: &generator)
  }

  private func makeOptimizer() -> any Optimizer {
    let settings = scenario.training.optimizer
    if settings.name == .sgd {
      return SGD(
        learningRate: Float(settings.learningRate), momentum: Float(settings.momentum),
        weightDecay: Float(settings.weightDecay))
    }
    return Adam(
      learningRate: Float(settings.learningRate), weightDecay: Float(settings.weightDecay))
  }

  // MARK: - Training

  func train(_ task: ContinualTask, progress: (ContinualProgress) throws -> Void) throws
    -> (seconds: Double, epochLosses: [Double])
  {
    model.train(true)
    let indices = policy.trainingIndices(for: task, in: self)
    let replays = policy.replaysSamples(in: scenario)
    let head = classIncrementalHead(through: task.index)
    let objective = MixtureObjective(
      loss: scenario.training.loss, sampleSimilarity: scenario.regularizers.sampleSimilarity,
      importance: scenario.regularizers.importance)
    let batchSize = scenario.training.batchSize
    let augmentation = scenario.dataset.augment ? Augmentation() : nil
    var seconds = 0.0
    var epochLosses: [Double] = []
    replayedRows.refresh(for: model)
    for epoch in 1...max(scenario.training.epochs, 1) where scenario.training.epochs > 0 {
      let start = DispatchTime.now().uptimeNanoseconds
      var order = indices
      order.shuffle(using: &generator)
      var total = 0.0
      var batches = 0
      var samples = 0
      for first in stride(from: 0, to: order.count, by: batchSize) {
        var batch = Array(order[first..<min(order.count, first + batchSize)])
        let taskRows = batch.count
        if replays, !replayBuffer.isEmpty {
          var draw = replayBuffer
          draw.shuffle(using: &generator)
          batch += draw.prefix(batchSize)
        }
        guard batch.count > 1 else { continue }
        let (input, labels) = try stream.train.batch(
          batch, augmentation: augmentation, using: &generator)
        // Augmented samples differ from one draw to the next: nothing of them is kept.
        if augmentation == nil { replayedBatch = (batch, input, taskRows..<batch.count) }
        defer { replayedBatch = nil }
        let terms = try policy.trainStep(
          input: input, labels: labels, head: head, objective: objective, in: self)
        total += Double(terms.data)
        batches += 1
        samples += batch.count
        try progress(
          .batch(
            task: task.index, epoch: epoch, done: batches,
            of: (order.count + batchSize - 1) / batchSize, samples: samples,
            loss: total / Double(batches),
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
      }
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      seconds += elapsed
      epochLosses.append(total / Double(max(batches, 1)))
      try progress(
        .epoch(
          task: task.index, epoch: epoch, of: scenario.training.epochs, loss: epochLosses.last!,
          seconds: elapsed, samplesPerSecond: Double(samples) / max(elapsed, 1e-9)))
    }
    if replays {
      addToReplay(task.trainIndices)
      replayedRows.forgetAllBut(replayBuffer)
    }
    return (seconds, epochLosses)
  }

  /// Trains the gate alone for `lifecycle.gate_epochs` epochs on the replay buffer after
  /// `task` (reservoir sampling keeps every task seen, this one included, in proportion),
  /// with every expert held fixed. Returns the seconds spent.
  func trainGateOnReplay(through task: ContinualTask) throws -> Double {
    guard scenario.lifecycle.gateEpochs > 0, policy.replaysSamples(in: scenario),
      !policy.isSingleNetwork, replayBuffer.count > 1
    else { return 0 }
    let start = DispatchTime.now().uptimeNanoseconds
    // The head reads the records, which count an expert frozen by hand as frozen for good:
    // take it before the experts are held fixed for a moment.
    let head = classIncrementalHead(through: task.index)
    let trainable = model.experts.indices.filter { !model.isFrozen(expert: $0) }
    for index in trainable { model.experts[index].freeze() }
    defer { for index in trainable { model.experts[index].unfreeze() } }
    model.train(true)
    replayedRows.refresh(for: model)
    let objective = MixtureObjective(loss: scenario.training.loss)
    let batchSize = scenario.training.batchSize
    for _ in 0..<scenario.lifecycle.gateEpochs {
      var order = replayBuffer
      order.shuffle(using: &generator)
      for first in stride(from: 0, to: order.count, by: batchSize) {
        let batch = Array(order[first..<min(order.count, first + batchSize)])
        guard batch.count > 1 else { continue }
        let (input, labels) = try stream.train.batch(batch)
        let known = try replayedRows.outputs(
          of: model, input: input, samples: batch, keptRows: 0..<batch.count)
        _ = try model.trainStep(
          input: input, targets: labels, objective: objective, optimizer: optimizer, head: head,
          knownExpertOutputs: known)
      }
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  /// Reservoir sampling over every training sample seen, seeded.
  private func addToReplay(_ indices: [Int]) {
    let capacity = scenario.lifecycle.replaySamples
    for index in indices {
      replaySeen += 1
      if replayBuffer.count < capacity {
        replayBuffer.append(index)
      } else if capacity > 0 {
        let slot = Int(generator.next() % UInt64(replaySeen))
        if slot < capacity { replayBuffer[slot] = index }
      }
    }
  }
}
