import MoE
import TensorCore

/// What happens to the experts and the gate around each task of a continual run: what is
/// spawned, reused, frozen and trained, and what the gate is trained on.
///
/// For each task the run calls ``prepare(for:in:)``, gives the task's classes to every
/// expert still trainable, trains on ``trainingIndices(for:in:)`` batch by batch through
/// ``trainStep(input:labels:head:objective:in:)`` (earlier samples mixed in when
/// ``replaysSamples(in:)``), calls ``finish(_:in:)``, fits the evidence gate's newly frozen
/// experts (`lifecycle.gate: evidence`), then trains the gate alone on the replay buffer for
/// `lifecycle.gate_epochs` epochs when the policy replays and has a gate.
///
/// A policy holds no mutable state of its own: everything it decides from lives in the
/// ``ContinualRun`` (records, model, replay buffer, EWC's tables), which a checkpoint stores,
/// so a run under any policy, built-in or a user's, resumes bit-identical. Every requirement
/// but ``name`` has a default (a mixture that trains every expert on every task), so a
/// user's policy states only what differs. Register it (``PolicyName/register(_:)``) to name
/// it in scenario files and `--policy`, and to resume its checkpoints by name.
public protocol LifecyclePolicy: Sendable {
  /// The name in scenario files, `--policy`, metrics and checkpoints.
  var name: PolicyName { get }

  /// Whether the run is one network without a gate (a baseline): one expert routed to by a
  /// ``SingleExpertGate``, and no routing metrics.
  ///
  /// Default: `false`.
  var isSingleNetwork: Bool { get }

  /// The number of experts the run starts with.
  ///
  /// Default: 1 for a single network, else `model.experts`.
  func initialExpertCount(for scenario: Scenario) -> Int

  /// Spawns, reuses or assigns classes before `task` is trained (with
  /// ``ContinualRun/spawnExpert(for:)``, ``ContinualRun/assign(classes:to:)`` and
  /// ``ContinualRun/validationAccuracy(expert:on:)``).
  ///
  /// Afterwards the run gives `task`'s classes to every expert still trainable, except one
  /// spawned for `task` that was given classes here. Default: nothing.
  func prepare(for task: ContinualTask, in run: ContinualRun) throws

  /// The training-set indices trained on during `task`, shuffled each epoch.
  ///
  /// Default: the task's own training samples.
  func trainingIndices(for task: ContinualTask, in run: ContinualRun) -> [Int]

  /// Whether a seeded reservoir of `lifecycle.replay_samples` earlier samples is mixed into
  /// every batch (and, with a gate, trains the gate after each task).
  ///
  /// Default: with a gate, when `lifecycle.gate` is `replay` or `hybrid`.
  func replaysSamples(in scenario: Scenario) -> Bool

  /// One optimisation step on a batch: `input` [B, …], `labels` [B], restricted to `head`.
  ///
  /// Default: ``ContinualRun/trainStep(input:labels:head:objective:)``, the objective's
  /// gradient step.
  func trainStep(
    input: Tensor, labels: [Int], head: OutputHead, objective: MixtureObjective,
    in run: ContinualRun
  ) throws -> StepLosses

  /// Freezes or records what the policy keeps after `task` was trained, before the gate's
  /// replay epochs and the evaluation (with ``ContinualRun/freeze(expert:afterTask:)`` or
  /// ``ContinualRun/freezeTrainableExperts(afterTask:)``).
  ///
  /// Default: nothing.
  func finish(_ task: ContinualTask, in run: ContinualRun) throws
}

extension LifecyclePolicy {
  public var isSingleNetwork: Bool { false }

  public func initialExpertCount(for scenario: Scenario) -> Int {
    isSingleNetwork ? 1 : scenario.model.experts
  }

  public func prepare(for task: ContinualTask, in run: ContinualRun) throws {}

  public func trainingIndices(for task: ContinualTask, in run: ContinualRun) -> [Int] {
    task.trainIndices
  }

  public func replaysSamples(in scenario: Scenario) -> Bool {
    !isSingleNetwork && (scenario.lifecycle.gate == .replay || scenario.lifecycle.gate == .hybrid)
  }

  public func trainStep(
    input: Tensor, labels: [Int], head: OutputHead, objective: MixtureObjective,
    in run: ContinualRun
  ) throws -> StepLosses {
    try run.trainStep(input: input, labels: labels, head: head, objective: objective)
  }

  public func finish(_ task: ContinualTask, in run: ContinualRun) throws {}
}
