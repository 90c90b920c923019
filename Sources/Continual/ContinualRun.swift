import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// One expert's history in a continual run.
public struct ExpertRecord: Sendable, Equatable {
  /// The expert's index in the mixture.
  public var id: Int
  /// The task during which it was added (0 for the initial experts).
  public var spawnedAtTask: Int
  /// The task after which it was frozen, or `nil` while trainable.
  public var frozenAtTask: Int?
  /// The classes it was trained on (and may predict).
  public var classes: [Int]

  /// A record from its parts.
  public init(id: Int, spawnedAtTask: Int, frozenAtTask: Int?, classes: [Int]) {
    self.id = id
    self.spawnedAtTask = spawnedAtTask
    self.frozenAtTask = frozenAtTask
    self.classes = classes
  }
}

/// What happened after one task: the row of every accuracy matrix and the routing.
public struct TaskReport: Sendable {
  /// The task just trained.
  public var task: Int
  /// Task-incremental accuracy on each task seen so far.
  public var accuracyTaskIL: [Double]
  /// Class-incremental accuracy on each task seen so far.
  public var accuracyClassIL: [Double]
  /// Class-incremental accuracy with oracle routing (each sample sent to the experts that
  /// held its class when its task ended), per task seen so far.
  public var oracleAccuracyClassIL: [Double]
  /// Routing statistics on the test samples of every task seen so far (class-IL head).
  public var routing: RoutingStatistics
  /// Routing forgetting: the mean total-variation distance between each old class's
  /// p(e|y) when its task ended and now (0 after the first task).
  public var routingForgetting: Double
  /// Routing accuracy on the test samples of every task seen so far: the fraction whose
  /// highest-weight expert was trained on their class (their own task's expert).
  public var routingAccuracy: Double = 0
  /// Seconds spent training the task.
  public var trainingSeconds: Double
  /// The mean training loss of the task's last epoch.
  public var finalLoss: Double
  /// The mean training loss of each of the task's epochs, in order.
  public var epochLosses: [Double] = []
  /// Lifecycle events of this task.
  public var events: [LifecycleEvent]
  /// Task-IL accuracy on this task just before training on it, and of the untrained
  /// initial model: the two terms of forward transfer.
  public var forwardTransferTerms: (beforeTraining: Double, initialModel: Double) = (0, 0)

  /// A report from its parts (as restored from a checkpoint).
  public init(
    task: Int, accuracyTaskIL: [Double], accuracyClassIL: [Double],
    oracleAccuracyClassIL: [Double], routing: RoutingStatistics, routingForgetting: Double,
    trainingSeconds: Double, finalLoss: Double, events: [LifecycleEvent]
  ) {
    self.task = task
    self.accuracyTaskIL = accuracyTaskIL
    self.accuracyClassIL = accuracyClassIL
    self.oracleAccuracyClassIL = oracleAccuracyClassIL
    self.routing = routing
    self.routingForgetting = routingForgetting
    self.trainingSeconds = trainingSeconds
    self.finalLoss = finalLoss
    self.events = events
  }
}

/// Everything a continual run measured.
public struct ContinualResult: Sendable {
  /// The scenario's name.
  public var scenario: String
  /// The resolved scenario's hash.
  public var scenarioHash: String
  /// The policy run.
  public var policy: String
  /// The training seed.
  public var seed: Int
  /// The classes of each task, in order.
  public var tasks: [[Int]]
  /// One report per task.
  public var reports: [TaskReport]
  /// The experts at the end.
  public var experts: [ExpertRecord]

  /// R[i][j]: task-IL accuracy on task j after task i (j ≤ i).
  public var accuracyMatrixTaskIL: [[Double]] { reports.map(\.accuracyTaskIL) }
  /// R[i][j]: class-IL accuracy on task j after task i (j ≤ i).
  public var accuracyMatrixClassIL: [[Double]] { reports.map(\.accuracyClassIL) }

  /// The mean accuracy over all tasks after the last.
  public static func averageAccuracy(_ matrix: [[Double]]) -> Double {
    guard let last = matrix.last, !last.isEmpty else { return 0 }
    return last.reduce(0, +) / Double(last.count)
  }

  /// Backward transfer: mean over earlier tasks of (final accuracy − accuracy just after
  /// the task); negative means forgetting. 0 for one task.
  public static func backwardTransfer(_ matrix: [[Double]]) -> Double {
    let count = matrix.count
    guard count > 1 else { return 0 }
    let terms = (0..<(count - 1)).map { matrix[count - 1][$0] - matrix[$0][$0] }
    return terms.reduce(0, +) / Double(terms.count)
  }

  /// Forward transfer (task-IL): mean over tasks after the first of (accuracy just before
  /// training on the task − accuracy of the untrained initial model on it). 0 for one task.
  public var forwardTransferTaskIL: Double {
    let terms = reports.dropFirst().map {
      $0.forwardTransferTerms.beforeTraining - $0.forwardTransferTerms.initialModel
    }
    return terms.isEmpty ? 0 : terms.reduce(0, +) / Double(terms.count)
  }

  /// Average forgetting: mean over earlier tasks of (best earlier accuracy − final).
  public static func forgetting(_ matrix: [[Double]]) -> Double {
    let count = matrix.count
    guard count > 1 else { return 0 }
    let terms = (0..<(count - 1)).map { task in
      (task..<(count - 1)).map { matrix[$0][task] }.max()! - matrix[count - 1][task]
    }
    return terms.reduce(0, +) / Double(terms.count)
  }
}

/// Everything needed to continue a continual run after a finished task exactly as if it
/// had not stopped (what a checkpoint stores).
public struct ContinualRunState {
  /// The first task still to run.
  public var nextTask: Int
  /// The mixture's tensors, by mixture key (`experts.0.…`, `gate.…`).
  public var modelState: [String: Tensor]
  /// The experts' histories.
  public var records: [ExpertRecord]
  /// The optimiser's state.
  public var optimizer: OptimizerState
  /// The random generator's state.
  public var generator: [UInt64]
  /// Training-set indices in the replay buffer, and how many samples it has seen.
  public var replayBuffer: [Int]
  /// The number of samples the reservoir has been offered.
  public var replaySeen: Int
  /// EWC's accumulated diagonal Fisher and anchor weights, by parameter key.
  public var fisher: [String: [Float]]
  /// EWC's anchor weights.
  public var anchors: [String: [Float]]
  /// The reports of the finished tasks.
  public var reports: [TaskReport]
  /// The mixture's lifecycle events so far.
  public var lifecycleLog: [LifecycleEvent]
  /// Task-IL accuracy of the untrained initial model on each task.
  public var initialAccuracies: [Double] = []

  /// A state from its parts.
  public init(
    nextTask: Int, modelState: [String: Tensor], records: [ExpertRecord],
    optimizer: OptimizerState, generator: [UInt64], replayBuffer: [Int], replaySeen: Int,
    fisher: [String: [Float]], anchors: [String: [Float]], reports: [TaskReport],
    lifecycleLog: [LifecycleEvent], initialAccuracies: [Double] = []
  ) {
    self.initialAccuracies = initialAccuracies
    self.nextTask = nextTask
    self.modelState = modelState
    self.records = records
    self.optimizer = optimizer
    self.generator = generator
    self.replayBuffer = replayBuffer
    self.replaySeen = replaySeen
    self.fisher = fisher
    self.anchors = anchors
    self.reports = reports
    self.lifecycleLog = lifecycleLog
  }
}

/// What a continual run reports while it works.
public enum ContinualProgress {
  /// A task started: index, count, its classes, the lifecycle events of the policy.
  case taskStarted(task: Int, of: Int, classes: [Int], events: [LifecycleEvent])
  /// A batch ended: task, epoch (from 1), batches done and per epoch, samples done in the
  /// epoch, running mean loss, seconds since the epoch started.
  case batch(
    task: Int, epoch: Int, done: Int, of: Int, samples: Int, loss: Double, seconds: Double)
  /// An epoch ended: task, epoch (from 1), epochs, mean loss, seconds, samples/s.
  case epoch(
    task: Int, epoch: Int, of: Int, loss: Double, seconds: Double, samplesPerSecond: Double)
  /// A task's evaluation is done.
  case taskFinished(TaskReport)
}

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
  /// The policy or baseline.
  public let policy: String
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
  private var storedRecords: [ExpertRecord] = []

  private var generator: RandomGenerator

  /// The optimiser's state (moments keyed by parameter path), for checkpoints.
  public var optimizerState: OptimizerState { optimizer.state }
  /// The random generator's state, for checkpoints.
  public var generatorState: [UInt64] { generator.state }
  /// The sample indices (into the training set) held in the replay buffer.
  public var replayIndices: [Int] { replayBuffer }
  private var finishedReports: [TaskReport] = []
  /// Task-IL accuracy of the untrained model on each task (forward transfer's baseline).
  private var initialAccuracies: [Double] = []

  /// Task-IL accuracy of the current model on `task`'s test samples, in evaluation mode.
  private func taskAccuracy(_ task: ContinualTask) throws -> Double {
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
    if scenario.lifecycle.gate == "rows-frozen", model.gate is SoftmaxGate {
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
  private let makeExpert: (inout RandomGenerator) throws -> any Expert
  private var optimizer: any Optimizer
  private var replayBuffer: [Int] = []
  private var replaySeen = 0
  private var fisher: [String: [Float]] = [:]
  private var anchors: [String: [Float]] = [:]
  private var decompositionAtTaskEnd: [Int: [Double]] = [:]

  /// Samples per evaluation batch: small enough that evaluating every expert of a large
  /// mixture stays well below the training step's memory.
  static let evaluationBatch = 256

  /// The single-network baselines.
  public static let baselines: Set<String> = ["fine-tune", "ewc", "replay", "joint"]

  /// A run of `stream` under `policy` (the scenario's unless given).
  ///
  /// - Parameter makeExpert: Builds every expert of the run (initial and spawned) instead of
  ///   the scenario's `model.expert` kind: plug your own ``Expert`` type in here. Its hidden
  ///   size must be the scenario's attention dimension when the gate is attentive.
  public init(
    scenario: Scenario, stream: TaskStream, policy: String? = nil,
    makeExpert: ((inout RandomGenerator) throws -> any Expert)? = nil
  ) throws {
    self.scenario = scenario
    self.stream = stream
    self.policy = policy ?? scenario.lifecycle.policy
    guard Scenario.LifecycleSettings.policies.contains(self.policy) else {
      throw ScenarioError(
        file: "--policy", path: self.policy,
        message: "unknown policy; one of "
          + Scenario.LifecycleSettings.policies.joined(separator: ", "))
    }
    var generator = RandomGenerator(seed: UInt64(scenario.training.seed))
    let isBaseline = Self.baselines.contains(self.policy)
    let initial =
      isBaseline
      ? 1 : (self.policy == "shared" ? scenario.model.experts : scenario.lifecycle.expertsPerTask)
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
    if let architecture = PaperArchitecture(rawValue: scenario.model.expert) {
      return { try architecture.makeExpert(classCount: classes, using: &$0) }
    }
    let shape = scenario.sampleShape
    let hidden = scenario.model.hidden
    if scenario.model.expert == "conv" {
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
    if let architecture = PaperArchitecture(rawValue: scenario.model.expert) {
      trunk = try architecture.makeGateTrunk(using: &generator)
    } else {
      trunk = try perceptronTrunk(
        inputCount: scenario.sampleShape.reduce(1, *), widths: scenario.model.gateTrunkWidths,
        rectifyLast: true,
        using: &generator)
    }
    return scenario.model.gate == "attentive"
      ? try AttentiveGate(
        trunk: trunk, dimension: scenario.expertHiddenCount, expertCount: experts,
        using: &generator)
      : try SoftmaxGate(
        trunk: trunk, hiddenCount: scenario.gateHiddenCount, expertCount: experts,
        using: &generator)
  }

  private func makeOptimizer() -> any Optimizer {
    let settings = scenario.training.optimizer
    if settings.name == "sgd" {
      return SGD(
        learningRate: Float(settings.learningRate), momentum: Float(settings.momentum),
        weightDecay: Float(settings.weightDecay))
    }
    return Adam(
      learningRate: Float(settings.learningRate), weightDecay: Float(settings.weightDecay))
  }

  // MARK: - The stream

  /// Trains every task in order and evaluates after each.
  ///
  /// An error `progress` throws stops the run there (after the batch, epoch or task it
  /// reports) and is rethrown; the tasks finished before stay in ``state``.
  public func run(progress: (ContinualProgress) throws -> Void = { _ in }) throws
    -> ContinualResult
  {
    if initialAccuracies.isEmpty {
      initialAccuracies = try stream.tasks.map { try taskAccuracy($0) }
    }
    for task in stream.tasks.dropFirst(finishedReports.count) {
      model.currentTask = task.index
      let logStart = model.lifecycleLog.count
      try applyPolicy(before: task)
      let before = try taskAccuracy(task)
      try progress(
        .taskStarted(
          task: task.index, of: stream.tasks.count, classes: task.classes,
          events: Array(model.lifecycleLog[logStart...])))
      var (seconds, losses) = try train(task, progress: progress)
      try finish(task)
      seconds += try trainGateOnReplay(through: task)
      var report = try evaluate(
        after: task, seconds: seconds, loss: losses.last ?? 0,
        events: Array(model.lifecycleLog[logStart...]))
      report.epochLosses = losses
      report.forwardTransferTerms = (before, initialAccuracies[task.index])
      finishedReports.append(report)
      try progress(.taskFinished(report))
    }
    return ContinualResult(
      scenario: scenario.name, scenarioHash: scenario.hash, policy: policy,
      seed: scenario.training.seed, tasks: stream.tasks.map(\.classes), reports: finishedReports,
      experts: records)
  }

  /// Spawns or reuses experts before `task`; every expert still trainable is then trained
  /// on (and may predict) the task's classes.
  private func applyPolicy(before task: ContinualTask) throws {
    // Experts added to `model` by the user between tasks get their record here.
    storedRecords = records
    if task.index > 0, policy == "spawn-and-freeze" || policy == "reuse-or-spawn" {
      let fitting =
        policy == "reuse-or-spawn"
        ? try records.indices.filter { records[$0].frozenAtTask != nil }.filter {
          try validationAccuracy(expert: $0, on: task) >= scenario.lifecycle.reuseThreshold
        } : []
      for index in fitting {
        storedRecords[index].classes = mergeClasses(storedRecords[index].classes, task.classes)
      }
      if fitting.isEmpty {
        for _ in 0..<scenario.lifecycle.expertsPerTask {
          let id = try model.addExpert(try makeExpert(&generator), using: &generator)
          storedRecords.append(
            ExpertRecord(id: id, spawnedAtTask: task.index, frozenAtTask: nil, classes: []))
        }
      }
    }
    for index in storedRecords.indices where storedRecords[index].frozenAtTask == nil {
      storedRecords[index].classes = mergeClasses(storedRecords[index].classes, task.classes)
    }
  }

  /// Freezes what the policy freezes after `task`, and records the task's routing.
  private func finish(_ task: ContinualTask) throws {
    if policy == "spawn-and-freeze" || policy == "reuse-or-spawn" {
      for index in storedRecords.indices where storedRecords[index].frozenAtTask == nil {
        try model.freeze(expert: index)
        storedRecords[index].frozenAtTask = task.index
      }
      if scenario.lifecycle.gate == "rows-frozen", model.gate is SoftmaxGate {
        try model.freezeGate(rows: Array(records.indices))
      }
    }
    if policy == "ewc" { try updateFisher(task) }
  }

  private func mergeClasses(_ a: [Int], _ b: [Int]) -> [Int] { a + b.filter { !a.contains($0) } }

  /// The head of a class-incremental evaluation after `task`: the classes seen so far,
  /// each expert restricted to the classes it was trained on.
  private func classIncrementalHead(through task: Int) -> OutputHead {
    OutputHead(
      allowedClasses: stream.classesSeen(through: task), expertClasses: records.map(\.classes))
  }

  // MARK: - Training

  private var usesReplay: Bool {
    policy == "replay" || (!Self.baselines.contains(policy) && scenario.lifecycle.gate == "replay")
  }

  private func train(_ task: ContinualTask, progress: (ContinualProgress) throws -> Void) throws
    -> (seconds: Double, epochLosses: [Double])
  {
    model.train(true)
    var indices = task.trainIndices
    if policy == "joint" {
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
        if policy == "ewc", !fisher.isEmpty {
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
  private func trainGateOnReplay(through task: ContinualTask) throws -> Double {
    guard scenario.lifecycle.gateEpochs > 0, usesReplay, !Self.baselines.contains(policy),
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

  // MARK: - EWC

  /// One step with the online-EWC penalty λ/2 Σ F (θ − θ*)² added to the loss.
  private func ewcStep(
    input: Tensor, labels: [Int], head: OutputHead, objective: MixtureObjective
  ) throws -> StepLosses {
    model.zeroGradients()
    let (total, terms, _) = try model.objective(
      objective, input: input, targets: labels, head: head)
    var loss = total
    let lambda = Float(scenario.lifecycle.ewcLambda)
    for (key, parameter) in model.trainableParameters() {
      guard let weights = fisher[key], let anchor = anchors[key] else { continue }
      let f = try Tensor(shape: parameter.shape, values: weights)
      let a = try Tensor(shape: parameter.shape, values: anchor)
      loss = try loss + ((parameter - a).squared() * f).sum() * (lambda / 2)
    }
    try loss.backward()
    try optimizer.update(model)
    return terms
  }

  /// Adds the task's diagonal empirical Fisher and moves the anchor to the current weights.
  /// The Fisher is the mean over the task's training batches (in order, of the training
  /// batch size) of the squared gradient of the batch's mean loss, as Avalanche's EWC
  /// computes it.
  private func updateFisher(_ task: ContinualTask) throws {
    let head = classIncrementalHead(through: task.index)
    let sample = task.trainIndices
    let batch = scenario.training.batchSize
    var batches = 0
    var sums: [String: [Float]] = [:]
    for first in stride(from: 0, to: sample.count, by: batch) {
      let indices = Array(sample[first..<min(sample.count, first + batch)])
      guard indices.count > 1 else { continue }
      let (input, labels) = try stream.train.batch(indices)
      model.zeroGradients()
      try model.loss(model(input, head: head), targets: labels).backward()
      for (key, parameter) in model.trainableParameters() {
        guard let gradient = parameter.grad?.values else { continue }
        sums[key, default: [Float](repeating: 0, count: gradient.count)] = zip(
          sums[key] ?? [Float](repeating: 0, count: gradient.count), gradient
        ).map { $0 + $1 * $1 }
      }
      batches += 1
    }
    model.zeroGradients()
    for (key, parameter) in model.trainableParameters() {
      let added = (sums[key] ?? []).map { $0 / Float(max(batches, 1)) }
      fisher[key] = zip(fisher[key] ?? [Float](repeating: 0, count: added.count), added).map(+)
      anchors[key] = parameter.values
    }
  }

  // MARK: - Evaluation

  /// The accuracy on `indices` of `dataset` (the test set unless given), with `head`, and
  /// with routing weights per label instead of the gate's when `routing` is given.
  private func accuracy(
    _ indices: [Int], of dataset: Dataset? = nil, head: OutputHead,
    routing: ((Int) -> [Double])? = nil
  ) throws -> Double {
    guard !indices.isEmpty else { return 0 }
    let source = dataset ?? stream.test
    var correct = 0
    try withGradientsDisabled {
      for first in stride(from: 0, to: indices.count, by: Self.evaluationBatch) {
        let batch = Array(indices[first..<min(indices.count, first + Self.evaluationBatch)])
        let (input, labels) = try source.batch(batch)
        var routed: Tensor?
        if let routing {
          routed = try Tensor(
            shape: [labels.count, model.experts.count],
            values: labels.flatMap { routing($0).map(Float.init) })
        }
        let output = try model(input, head: head, routing: routed)
        let probabilities = output.probabilities.values
        let classes = model.classCount
        for (row, label) in labels.enumerated() {
          let scores = probabilities[(row * classes)..<((row + 1) * classes)]
          let best = scores.indices.max { scores[$0] < scores[$1] }! - row * classes
          if best == label { correct += 1 }
        }
      }
    }
    return Double(correct) / Double(indices.count)
  }

  /// Task-IL validation accuracy of expert `index` alone on `task`.
  private func validationAccuracy(expert index: Int, on task: ContinualTask) throws -> Double {
    model.train(false)
    defer { model.train(true) }
    let indices =
      task.validationIndices.isEmpty ? Array(task.trainIndices.prefix(512)) : task.validationIndices
    let alone = (0..<model.experts.count).map { $0 == index ? 1.0 : 0.0 }
    return try accuracy(
      indices, of: stream.train, head: OutputHead(allowedClasses: task.classes)
    ) { _ in alone }
  }

  private func evaluate(
    after task: ContinualTask, seconds: Double, loss: Double, events: [LifecycleEvent]
  ) throws -> TaskReport {
    model.train(false)
    defer { model.train(true) }
    let seen = stream.tasks.prefix(task.index + 1)
    let classHead = classIncrementalHead(through: task.index)
    let taskIL = try seen.map {
      try accuracy(
        $0.testIndices,
        head: OutputHead(allowedClasses: $0.classes, expertClasses: records.map(\.classes)))
    }
    let classIL = try seen.map { try accuracy($0.testIndices, head: classHead) }
    var routing = RoutingStatistics(experts: model.experts.count, classes: model.classCount)
    let testIndices = seen.flatMap(\.testIndices)
    for first in stride(from: 0, to: testIndices.count, by: Self.evaluationBatch) {
      let (input, labels) = try stream.test.batch(
        Array(testIndices[first..<min(testIndices.count, first + Self.evaluationBatch)]))
      try model.accumulate(into: &routing, input: input, targets: labels, head: classHead)
    }
    let decomposition = routing.decomposition  // E × K
    for label in task.classes {
      decompositionAtTaskEnd[label] = decomposition.map { $0[label] }
    }
    let experts = model.experts.count
    let oldClasses = seen.dropLast().flatMap(\.classes)
    let drift = oldClasses.map { label -> Double in
      let then = decompositionAtTaskEnd[label] ?? []
      let now = decomposition.map { $0[label] }
      return 0.5
        * (0..<experts).reduce(0) { $0 + abs((($1 < then.count) ? then[$1] : 0) - now[$1]) }
    }
    let oracle = try seen.map { seenTask in
      try accuracy(seenTask.testIndices, head: classHead) { label in
        let then = self.decompositionAtTaskEnd[label] ?? []
        return (0..<experts).map { $0 < then.count ? then[$0] : 0 }
      }
    }
    var report = TaskReport(
      task: task.index, accuracyTaskIL: taskIL, accuracyClassIL: classIL,
      oracleAccuracyClassIL: oracle, routing: routing,
      routingForgetting: drift.isEmpty ? 0 : drift.reduce(0, +) / Double(drift.count),
      trainingSeconds: seconds, finalLoss: loss, events: events)
    report.routingAccuracy = routing.routingAccuracy(expertClasses: records.map(\.classes))
    return report
  }
}
