import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// Runs a scenario's task stream with one lifecycle policy or baseline.
///
/// MoE policies: `shared` (every expert trainable on every task), `spawn-and-freeze`
/// (`experts_per_task` new experts per task, earlier ones frozen), `reuse-or-spawn`
/// (a frozen expert whose task-IL validation accuracy on the new task reaches
/// `reuse_threshold` is reused, else new experts are spawned). The gate is `trainable`,
/// has the rows of frozen experts frozen (`rows-frozen`, softmax gate), or is trained on a
/// seeded reservoir of `replay_samples` earlier samples mixed into each batch (`replay`).
/// Baselines use one network and no gate: `fine-tune`, `ewc` (online EWC), `replay`
/// (experience replay) and `joint` (training on every task seen so far).
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
  /// The policy or baseline.
  public let policy: PolicyName
  /// The mixture being trained.
  public private(set) var model: MixtureOfExperts
  /// Per expert: spawn, freeze and classes. Experts added to `model` by hand between tasks
  /// are recorded as spawned for the next task, and experts frozen by hand as frozen after
  /// the last finished task.
  public var records: [ExpertRecord] {
    let next = finishedReports.count
    while storedRecords.count < model.experts.count {
      storedRecords.append(
        ExpertRecord(id: storedRecords.count, spawnedAtTask: next, frozenAtTask: nil, classes: []))
    }
    for index in storedRecords.indices
    where storedRecords[index].frozenAtTask == nil && model.isFrozen(expert: index) {
      storedRecords[index].frozenAtTask = max(next - 1, storedRecords[index].spawnedAtTask)
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
      task.testIndices, head: OutputHead(allowedClasses: task.classes, expertClasses: classes))
  }

  /// The state after the tasks finished so far, for a checkpoint.
  public var state: ContinualRunState {
    ContinualRunState(
      scenario: scenario, policy: policy, dataDigest: dataDigest,
      numerics: BLAS.numericsDescription,
      // Built-in experts are named by their scenario kind, others by their Swift type.
      expertKinds: model.experts.map {
        $0 is FeatureExpert ? scenario.model.expert.rawValue : String(describing: type(of: $0))
      },
      gateKind: String(describing: type(of: model.gate)),
      nextTask: finishedReports.count,
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
      try model.addExpert(try makeExpert(&scratch), using: &scratch)
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
  let makeExpert: (inout RandomGenerator) throws -> any Expert
  var optimizer: any Optimizer
  private var replayBuffer: [Int] = []
  private var replaySeen = 0
  var fisher: [String: [Float]] = [:]
  var anchors: [String: [Float]] = [:]
  var decompositionAtTaskEnd: [Int: [Double]] = [:]

  /// Samples per evaluation batch: small enough that evaluating every expert of a large
  /// mixture stays well below the training step's memory.
  static let evaluationBatch = 256

  /// A run of `stream` under `policy` (the scenario's unless given).
  ///
  /// - Parameter makeExpert: Builds every expert of the run (initial and spawned) instead of
  ///   the scenario's `model.expert` kind: plug your own ``Expert`` type in here. Its hidden
  ///   size must be the scenario's attention dimension when the gate is attentive.
  public init(
    scenario: Scenario, stream: TaskStream, policy: PolicyName? = nil,
    makeExpert: ((inout RandomGenerator) throws -> any Expert)? = nil
  ) throws {
    self.scenario = scenario
    self.stream = stream
    self.policy = policy ?? scenario.lifecycle.policy
    guard PolicyName.known.contains(self.policy) else {
      throw ScenarioError(
        file: "--policy", path: self.policy.rawValue,
        message: "unknown policy; one of "
          + PolicyName.known.map(\.rawValue).joined(separator: ", "))
    }
    var generator = RandomGenerator(seed: UInt64(scenario.training.seed))
    let isBaseline = PolicyName.baselines.contains(self.policy)
    let initial =
      isBaseline
      ? 1 : (self.policy == .shared ? scenario.model.experts : scenario.lifecycle.expertsPerTask)
    let makeExpert = try makeExpert ?? Self.expertFactory(scenario)
    self.makeExpert = makeExpert
    let experts: [any Expert] = try (0..<initial).map { _ in try makeExpert(&generator) }
    let gate: any Gate =
      isBaseline
      ? SingleExpertGate() : try Self.makeGate(scenario, experts: initial, using: &generator)
    self.generator = generator
    model = try MixtureOfExperts(experts: experts, gate: gate)
    storedRecords = (0..<initial).map {
      ExpertRecord(id: $0, spawnedAtTask: 0, frozenAtTask: nil, classes: [])
    }
    optimizer = SGD(learningRate: 0)
    optimizer = makeOptimizer()
  }

  /// A function making new experts of the scenario's kind.
  static func expertFactory(_ scenario: Scenario) throws
    -> (inout RandomGenerator) throws -> any Expert
  {
    let classes = scenario.classCount
    if let architecture = scenario.model.expert.paperArchitecture {
      return { try architecture.makeExpert(classCount: classes, using: &$0) }
    }
    let shape = scenario.sampleShape
    let hidden = scenario.model.hidden
    if scenario.model.expert == .conv {
      let channels = scenario.model.channels
      return {
        try FeatureExpert.convolutional(
          inputShape: shape, channels: channels, hidden: hidden, classCount: classes,
          using: &$0)
      }
    }
    return {
      try FeatureExpert.multilayerPerceptron(
        inputCount: shape.reduce(1, *), hidden: hidden, classCount: classes, using: &$0)
    }
  }

  static func makeGate(_ scenario: Scenario, experts: Int, using generator: inout RandomGenerator)
    throws -> any Gate
  {
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
        trunk: trunk, dimension: scenario.expertHiddenCount, expertCount: experts,
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

  private var usesReplay: Bool {
    policy == .replay
      || (!PolicyName.baselines.contains(policy) && scenario.lifecycle.gate == .replay)
  }

  func train(_ task: ContinualTask, progress: (ContinualProgress) throws -> Void) throws
    -> (seconds: Double, epochLosses: [Double])
  {
    model.train(true)
    var indices = task.trainIndices
    if policy == .joint {
      indices = stream.tasks.prefix(task.index + 1).flatMap(\.trainIndices)
    }
    let head = classIncrementalHead(through: task.index)
    let objective = MixtureObjective(
      loss: scenario.training.loss, sampleSimilarity: scenario.regularizers.sampleSimilarity,
      importance: scenario.regularizers.importance)
    let batchSize = scenario.training.batchSize
    let augmentation = scenario.dataset.augment ? Augmentation() : nil
    var seconds = 0.0
    var epochLosses: [Double] = []
    for epoch in 1...max(scenario.training.epochs, 1) where scenario.training.epochs > 0 {
      let start = DispatchTime.now().uptimeNanoseconds
      var order = indices
      order.shuffle(using: &generator)
      var total = 0.0
      var batches = 0
      var samples = 0
      for first in stride(from: 0, to: order.count, by: batchSize) {
        var batch = Array(order[first..<min(order.count, first + batchSize)])
        if usesReplay, !replayBuffer.isEmpty {
          var draw = replayBuffer
          draw.shuffle(using: &generator)
          batch += draw.prefix(batchSize)
        }
        guard batch.count > 1 else { continue }
        let (input, labels) = try stream.train.batch(
          batch, augmentation: augmentation, using: &generator)
        let terms: StepLosses
        if policy == .ewc, !fisher.isEmpty {
          terms = try ewcStep(input: input, labels: labels, head: head, objective: objective)
        } else {
          terms = try model.trainStep(
            input: input, targets: labels, objective: objective, optimizer: optimizer, head: head)
        }
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
    if usesReplay { addToReplay(task.trainIndices) }
    return (seconds, epochLosses)
  }

  /// Trains the gate alone for `lifecycle.gate_epochs` epochs on the replay buffer after
  /// `task` (reservoir sampling keeps every task seen, this one included, in proportion),
  /// with every expert held fixed. Returns the seconds spent.
  func trainGateOnReplay(through task: ContinualTask) throws -> Double {
    guard scenario.lifecycle.gateEpochs > 0, usesReplay, !PolicyName.baselines.contains(policy),
      replayBuffer.count > 1
    else { return 0 }
    let start = DispatchTime.now().uptimeNanoseconds
    let trainable = model.experts.indices.filter { !model.isFrozen(expert: $0) }
    for index in trainable { model.experts[index].freeze() }
    defer { for index in trainable { model.experts[index].unfreeze() } }
    model.train(true)
    let head = classIncrementalHead(through: task.index)
    let objective = MixtureObjective(loss: scenario.training.loss)
    let batchSize = scenario.training.batchSize
    for _ in 0..<scenario.lifecycle.gateEpochs {
      var order = replayBuffer
      order.shuffle(using: &generator)
      for first in stride(from: 0, to: order.count, by: batchSize) {
        let batch = Array(order[first..<min(order.count, first + batchSize)])
        guard batch.count > 1 else { continue }
        let (input, labels) = try stream.train.batch(batch)
        _ = try model.trainStep(
          input: input, targets: labels, objective: objective, optimizer: optimizer, head: head)
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
