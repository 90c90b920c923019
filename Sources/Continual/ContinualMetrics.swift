import Foundation
import MoE
import TensorCore

/// The metrics of one continual run, as its `--metrics-json` file and a sweep's records
/// hold them (keys in `snake_case`, written by ``JSONOutput/data(encoding:pretty:)``).
///
/// Non-finite numbers are written as `null` and read back as NaN. `routing_accuracy` and
/// `routing_accuracy_per_task` are `null` for the baselines without a gate.
public struct ContinualMetrics: Codable, Sendable, Equatable {
  /// One expert of the final model.
  public struct Expert: Codable, Sendable, Equatable {
    /// Its index in the mixture.
    public var id: Int
    /// The task (from 0) that spawned it.
    public var spawnedAtTask: Int
    /// The task (from 0) after which it was frozen; `nil` (written `null`) while trainable.
    public var frozenAtTask: Int?
    /// The classes it was trained on.
    public var classes: [Int]

    enum CodingKeys: String, CodingKey {
      case id, classes
      case spawnedAtTask = "spawned_at_task"
      case frozenAtTask = "frozen_at_task"
    }

    public func encode(to encoder: Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(id, forKey: .id)
      try container.encode(spawnedAtTask, forKey: .spawnedAtTask)
      try container.encode(frozenAtTask, forKey: .frozenAtTask)
      try container.encode(classes, forKey: .classes)
    }
  }

  /// One lifecycle event: `event` (spawned, frozen, …) of `expert` at `task` (from 0).
  public struct Event: Codable, Sendable, Equatable {
    /// The task (from 0).
    public var task: Int
    /// The expert's index.
    public var expert: Int
    /// What happened (``LifecycleEvent/Kind``'s raw value).
    public var event: String
  }

  /// The scenario's name.
  public var scenario: String
  /// SHA-256 of the resolved scenario (``Scenario/hash``).
  public var scenarioHash: String
  /// The numerics that produced the run (``BLAS/numericsDescription``).
  public var numerics: String
  /// The lifecycle policy's name.
  public var policy: String
  /// `training.seed`.
  public var seed: Int
  /// The dataset's registry name; `nil` in records written before it was recorded.
  public var dataset: String?
  /// The most samples of other tasks the run held at once (see
  /// ``ContinualResult/storedSamples``); `nil` in records written before it was recorded.
  public var storedSamples: Int?
  /// The classes of every task.
  public var tasks: [[Int]]
  /// Task-IL accuracy on tasks 1…t after each task t: a lower-triangular matrix.
  public var accuracyMatrixTaskIL: [[Double]]
  /// Class-IL accuracy on tasks 1…t after each task t.
  public var accuracyMatrixClassIL: [[Double]]
  /// Class-IL accuracy with oracle routing, after each task.
  public var oracleAccuracyMatrixClassIL: [[Double]]
  /// Mean task-IL accuracy over every task after the last.
  public var averageAccuracyTaskIL: Double
  /// Mean class-IL accuracy over every task after the last.
  public var averageAccuracyClassIL: Double
  /// Backward transfer, task-IL.
  public var bwtTaskIL: Double
  /// Backward transfer, class-IL.
  public var bwtClassIL: Double
  /// Forgetting, task-IL.
  public var forgettingTaskIL: Double
  /// Forward transfer, task-IL.
  public var fwtTaskIL: Double
  /// Forgetting, class-IL.
  public var forgettingClassIL: Double
  /// The mean routing forgetting over the tasks after the first.
  public var routingForgetting: Double
  /// Routing forgetting after each task (0 for the first).
  public var routingForgettingPerTask: [Double]
  /// The mean oracle-routing class-IL accuracy after the last task.
  public var oracleAccuracyClassIL: Double
  /// After the last task; `nil` for the baselines without a gate.
  public var routingAccuracy: Double?
  /// Routing accuracy after each task; `nil` for the baselines without a gate.
  public var routingAccuracyPerTask: [Double]?
  /// The final model's experts.
  public var experts: [Expert]
  /// p(expert | class) after every task.
  public var decompositions: [[[Double]]]
  /// Mean gate weight per expert, after each task.
  public var expertUsage: [[Double]]
  /// Entropy of the expert usage in bits, after each task.
  public var usageEntropy: [Double]
  /// Mean entropy of p(expert | class) in bits, after each task.
  public var classEntropy: [Double]
  /// Seconds each task trained: a timing, `nil` in a sweep record's metrics (the record
  /// keeps it under `timing`).
  public var trainingSeconds: [Double]?
  /// Every spawn, freeze and reuse, in order.
  public var lifecycleEvents: [Event]

  enum CodingKeys: String, CodingKey {
    case scenario, numerics, policy, seed, tasks, experts, decompositions, dataset
    case storedSamples = "stored_samples"
    case scenarioHash = "scenario_hash"
    case accuracyMatrixTaskIL = "accuracy_matrix_task_il"
    case accuracyMatrixClassIL = "accuracy_matrix_class_il"
    case oracleAccuracyMatrixClassIL = "oracle_accuracy_matrix_class_il"
    case averageAccuracyTaskIL = "average_accuracy_task_il"
    case averageAccuracyClassIL = "average_accuracy_class_il"
    case bwtTaskIL = "bwt_task_il"
    case bwtClassIL = "bwt_class_il"
    case forgettingTaskIL = "forgetting_task_il"
    case fwtTaskIL = "fwt_task_il"
    case forgettingClassIL = "forgetting_class_il"
    case routingForgetting = "routing_forgetting"
    case routingForgettingPerTask = "routing_forgetting_per_task"
    case oracleAccuracyClassIL = "oracle_accuracy_class_il"
    case routingAccuracy = "routing_accuracy"
    case routingAccuracyPerTask = "routing_accuracy_per_task"
    case expertUsage = "expert_usage"
    case usageEntropy = "usage_entropy"
    case classEntropy = "class_entropy"
    case trainingSeconds = "training_seconds"
    case lifecycleEvents = "lifecycle_events"
  }

  /// The metrics of `result`, with the numerics of this process.
  public init(_ result: ContinualResult) {
    let reports = result.reports
    let oracle = reports.last?.oracleAccuracyClassIL ?? []
    let isMixture = !PolicyName.baselines.contains(result.policy)
    scenario = result.scenario
    scenarioHash = result.scenarioHash
    numerics = BLAS.numericsDescription
    policy = result.policy.rawValue
    seed = result.seed
    dataset = result.dataset
    storedSamples = result.storedSamples
    tasks = result.tasks
    accuracyMatrixTaskIL = result.accuracyMatrixTaskIL
    accuracyMatrixClassIL = result.accuracyMatrixClassIL
    oracleAccuracyMatrixClassIL = reports.map(\.oracleAccuracyClassIL)
    averageAccuracyTaskIL = ContinualResult.averageAccuracy(accuracyMatrixTaskIL)
    averageAccuracyClassIL = ContinualResult.averageAccuracy(accuracyMatrixClassIL)
    bwtTaskIL = ContinualResult.backwardTransfer(accuracyMatrixTaskIL)
    bwtClassIL = ContinualResult.backwardTransfer(accuracyMatrixClassIL)
    forgettingTaskIL = ContinualResult.forgetting(accuracyMatrixTaskIL)
    fwtTaskIL = result.forwardTransferTaskIL
    forgettingClassIL = ContinualResult.forgetting(accuracyMatrixClassIL)
    routingForgetting =
      reports.map(\.routingForgetting).reduce(0, +) / Double(max(reports.count - 1, 1))
    routingForgettingPerTask = reports.map(\.routingForgetting)
    oracleAccuracyClassIL = oracle.isEmpty ? 0 : oracle.reduce(0, +) / Double(oracle.count)
    routingAccuracy = isMixture ? (reports.last?.routingAccuracy ?? 0) : nil
    routingAccuracyPerTask = isMixture ? reports.map(\.routingAccuracy) : nil
    experts = result.experts.map {
      Expert(
        id: $0.id, spawnedAtTask: $0.spawnedAtTask, frozenAtTask: $0.frozenAtTask,
        classes: $0.classes)
    }
    decompositions = reports.map(\.routing.decomposition)
    expertUsage = reports.map(\.routing.usage)
    usageEntropy = reports.map(\.routing.usageEntropy)
    classEntropy = reports.map(\.routing.classEntropy)
    trainingSeconds = reports.map(\.trainingSeconds)
    lifecycleEvents = reports.flatMap(\.events).map {
      Event(task: $0.task, expert: $0.expert, event: $0.kind.rawValue)
    }
  }

  // MARK: - Codable

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    scenario = try container.decode(String.self, forKey: .scenario)
    scenarioHash = try container.decode(String.self, forKey: .scenarioHash)
    numerics = try container.decode(String.self, forKey: .numerics)
    policy = try container.decode(String.self, forKey: .policy)
    seed = try container.decode(Int.self, forKey: .seed)
    dataset = try container.decodeIfPresent(String.self, forKey: .dataset)
    storedSamples = try container.decodeIfPresent(Int.self, forKey: .storedSamples)
    tasks = try container.decode([[Int]].self, forKey: .tasks)
    accuracyMatrixTaskIL = try container.decodeNumbers(.accuracyMatrixTaskIL)
    accuracyMatrixClassIL = try container.decodeNumbers(.accuracyMatrixClassIL)
    oracleAccuracyMatrixClassIL = try container.decodeNumbers(.oracleAccuracyMatrixClassIL)
    averageAccuracyTaskIL = try container.decodeNumber(.averageAccuracyTaskIL)
    averageAccuracyClassIL = try container.decodeNumber(.averageAccuracyClassIL)
    bwtTaskIL = try container.decodeNumber(.bwtTaskIL)
    bwtClassIL = try container.decodeNumber(.bwtClassIL)
    forgettingTaskIL = try container.decodeNumber(.forgettingTaskIL)
    fwtTaskIL = try container.decodeNumber(.fwtTaskIL)
    forgettingClassIL = try container.decodeNumber(.forgettingClassIL)
    routingForgetting = try container.decodeNumber(.routingForgetting)
    routingForgettingPerTask = try container.decodeNumbers(.routingForgettingPerTask)
    oracleAccuracyClassIL = try container.decodeNumber(.oracleAccuracyClassIL)
    routingAccuracy = try container.decodeIfPresent(Double.self, forKey: .routingAccuracy)
    routingAccuracyPerTask =
      try container.decodeIfPresent([Double?].self, forKey: .routingAccuracyPerTask)?
      .map { $0 ?? .nan }
    experts = try container.decode([Expert].self, forKey: .experts)
    decompositions = try container.decodeNumbers(.decompositions)
    expertUsage = try container.decodeNumbers(.expertUsage)
    usageEntropy = try container.decodeNumbers(.usageEntropy)
    classEntropy = try container.decodeNumbers(.classEntropy)
    trainingSeconds =
      try container.decodeIfPresent([Double?].self, forKey: .trainingSeconds)?.map { $0 ?? .nan }
    lifecycleEvents = try container.decode([Event].self, forKey: .lifecycleEvents)
  }

  /// Writes every key; `routing_accuracy` and `routing_accuracy_per_task` as `null` when
  /// `nil`, `training_seconds` only when present.
  public func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(scenario, forKey: .scenario)
    try container.encode(scenarioHash, forKey: .scenarioHash)
    try container.encode(numerics, forKey: .numerics)
    try container.encode(policy, forKey: .policy)
    try container.encode(seed, forKey: .seed)
    try container.encodeIfPresent(dataset, forKey: .dataset)
    try container.encodeIfPresent(storedSamples, forKey: .storedSamples)
    try container.encode(tasks, forKey: .tasks)
    try container.encode(accuracyMatrixTaskIL, forKey: .accuracyMatrixTaskIL)
    try container.encode(accuracyMatrixClassIL, forKey: .accuracyMatrixClassIL)
    try container.encode(oracleAccuracyMatrixClassIL, forKey: .oracleAccuracyMatrixClassIL)
    try container.encode(averageAccuracyTaskIL, forKey: .averageAccuracyTaskIL)
    try container.encode(averageAccuracyClassIL, forKey: .averageAccuracyClassIL)
    try container.encode(bwtTaskIL, forKey: .bwtTaskIL)
    try container.encode(bwtClassIL, forKey: .bwtClassIL)
    try container.encode(forgettingTaskIL, forKey: .forgettingTaskIL)
    try container.encode(fwtTaskIL, forKey: .fwtTaskIL)
    try container.encode(forgettingClassIL, forKey: .forgettingClassIL)
    try container.encode(routingForgetting, forKey: .routingForgetting)
    try container.encode(routingForgettingPerTask, forKey: .routingForgettingPerTask)
    try container.encode(oracleAccuracyClassIL, forKey: .oracleAccuracyClassIL)
    try container.encode(routingAccuracy, forKey: .routingAccuracy)
    try container.encode(routingAccuracyPerTask, forKey: .routingAccuracyPerTask)
    try container.encode(experts, forKey: .experts)
    try container.encode(decompositions, forKey: .decompositions)
    try container.encode(expertUsage, forKey: .expertUsage)
    try container.encode(usageEntropy, forKey: .usageEntropy)
    try container.encode(classEntropy, forKey: .classEntropy)
    try container.encodeIfPresent(trainingSeconds, forKey: .trainingSeconds)
    try container.encode(lifecycleEvents, forKey: .lifecycleEvents)
  }
}

extension ContinualResult {
  /// The `--metrics-json` metrics of this run, with the numerics that produced it.
  public var metrics: ContinualMetrics { ContinualMetrics(self) }
}
