import MoE
import NN
import TensorCore

/// Everything needed to continue a continual run after a finished task exactly as if it
/// had not stopped: what a checkpoint stores, and what reading one gives back.
///
/// `Checkpoint.write(_:to:toolVersion:)` writes it and `Checkpoint.read(_:)` returns it;
/// ``ContinualRun/restore(_:)`` puts a run of the same scenario and policy where it left.
public struct ContinualRunState {
  // MARK: - What ran

  /// The scenario run, with every default filled in.
  public var scenario: Scenario
  /// The lifecycle policy (or baseline) run.
  public var policy: PolicyName
  /// ``ContinualRun/dataDigest`` of the data trained on; `nil` in checkpoints written
  /// before it was recorded.
  public var dataDigest: String?
  /// The numerics that computed the state (`BLAS.numericsDescription`); `nil` in
  /// checkpoints written before it was recorded.
  public var numerics: String?
  /// Per expert, its kind: the scenario's kind for built-in experts, else the Swift type.
  public var expertKinds: [String]
  /// The gate's Swift type.
  public var gateKind: String
  /// ``ContinualRun/storedSamples`` after the finished tasks.
  public var storedSamples: Int

  // MARK: - Where it is

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
  /// Training-set indices in the replay buffer.
  public var replayBuffer: [Int]
  /// The number of samples the reservoir has been offered.
  public var replaySeen: Int
  /// EWC's accumulated diagonal Fisher, by parameter key.
  public var fisher: [String: [Float]]
  /// EWC's anchor weights, by parameter key.
  public var anchors: [String: [Float]]
  /// The reports of the finished tasks.
  public var reports: [TaskReport]
  /// The mixture's lifecycle events so far.
  public var lifecycleLog: [LifecycleEvent]
  /// Task-IL accuracy of the untrained initial model on each task.
  public var initialAccuracies: [Double]

  /// A state from its parts.
  public init(
    scenario: Scenario, policy: PolicyName, dataDigest: String?, numerics: String?,
    expertKinds: [String], gateKind: String, storedSamples: Int, nextTask: Int,
    modelState: [String: Tensor], records: [ExpertRecord],
    optimizer: OptimizerState, generator: [UInt64], replayBuffer: [Int], replaySeen: Int,
    fisher: [String: [Float]], anchors: [String: [Float]], reports: [TaskReport],
    lifecycleLog: [LifecycleEvent], initialAccuracies: [Double]
  ) {
    self.scenario = scenario
    self.policy = policy
    self.dataDigest = dataDigest
    self.numerics = numerics
    self.expertKinds = expertKinds
    self.gateKind = gateKind
    self.storedSamples = storedSamples
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
    self.initialAccuracies = initialAccuracies
  }
}
