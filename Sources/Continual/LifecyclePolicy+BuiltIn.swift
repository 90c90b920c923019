import MoE
import TensorCore

// The seven built-in policies: three lifecycles of a mixture, four single-network
// baselines. `PolicyName.builtIn` lists their names in this order.

/// `shared`: every expert trainable on every task, `model.experts` of them from the start.
public struct SharedPolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .shared }
}

/// `spawn-and-freeze`: `lifecycle.experts_per_task` new experts per task, every trainable
/// expert frozen after its task (and, with `lifecycle.gate: rows-frozen` and a softmax
/// gate, the gate's rows of the frozen experts). With `lifecycle.expert_granularity: class`,
/// one expert per class of the task instead, owning that class alone.
public struct SpawnAndFreezePolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .spawnAndFreeze }

  public func initialExpertCount(for scenario: Scenario) -> Int {
    scenario.lifecycle.expertGranularity == .class
      ? scenario.classGroups.first?.count ?? 1 : scenario.lifecycle.expertsPerTask
  }

  public func prepare(for task: ContinualTask, in run: ContinualRun) throws {
    guard run.scenario.lifecycle.expertGranularity == .task else {
      // The first task's experts exist already (unassigned); later tasks spawn theirs.
      var unassigned = run.records.filter { $0.frozenAtTask == nil && $0.classes.isEmpty }.map(\.id)
      for label in task.classes {
        let expert = unassigned.isEmpty ? try run.spawnExpert(for: task) : unassigned.removeFirst()
        try run.assign(classes: [label], to: expert)
      }
      return
    }
    guard task.index > 0 else { return }
    for _ in 0..<run.scenario.lifecycle.expertsPerTask { try run.spawnExpert(for: task) }
  }

  public func finish(_ task: ContinualTask, in run: ContinualRun) throws {
    try run.freezeTrainableExperts(afterTask: task)
  }
}

/// `reuse-or-spawn`: as `spawn-and-freeze`, but when frozen experts reach
/// `lifecycle.reuse_threshold` task-IL validation accuracy on a new task, they take its
/// classes and nothing is spawned.
public struct ReuseOrSpawnPolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .reuseOrSpawn }

  public func initialExpertCount(for scenario: Scenario) -> Int {
    scenario.lifecycle.expertsPerTask
  }

  public func prepare(for task: ContinualTask, in run: ContinualRun) throws {
    guard task.index > 0 else { return }
    let threshold = run.scenario.lifecycle.reuseThreshold
    let records = run.records
    let fitting = try records.indices.filter { records[$0].frozenAtTask != nil }.filter {
      try run.validationAccuracy(expert: $0, on: task) >= threshold
    }
    for index in fitting { try run.assign(classes: task.classes, to: index) }
    if fitting.isEmpty {
      for _ in 0..<run.scenario.lifecycle.expertsPerTask { try run.spawnExpert(for: task) }
    }
  }

  public func finish(_ task: ContinualTask, in run: ContinualRun) throws {
    try run.freezeTrainableExperts(afterTask: task)
  }
}

/// `fine-tune`: one network trained on each task in turn.
public struct FineTunePolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .fineTune }
  public var isSingleNetwork: Bool { true }
}

/// `ewc`: one network with online EWC's penalty λ/2 Σ F (θ − θ*)² (`lifecycle.ewc_lambda`);
/// the Fisher diagonal accumulates and the anchor moves after every task.
public struct EWCPolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .ewc }
  public var isSingleNetwork: Bool { true }

  public func trainStep(
    input: Tensor, labels: [Int], head: OutputHead, objective: MixtureObjective,
    in run: ContinualRun
  ) throws -> StepLosses {
    run.fisher.isEmpty
      ? try run.trainStep(input: input, labels: labels, head: head, objective: objective)
      : try run.ewcStep(input: input, labels: labels, head: head, objective: objective)
  }

  public func finish(_ task: ContinualTask, in run: ContinualRun) throws {
    try run.updateFisher(task)
  }
}

/// `replay`: one network with experience replay, a seeded reservoir of
/// `lifecycle.replay_samples` earlier samples mixed into every batch.
public struct ReplayPolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .replay }
  public var isSingleNetwork: Bool { true }

  public func replaysSamples(in scenario: Scenario) -> Bool { true }
}

/// `joint`: one network trained on every task seen so far (the upper reference).
public struct JointPolicy: LifecyclePolicy {
  /// The policy.
  public init() {}

  public var name: PolicyName { .joint }
  public var isSingleNetwork: Bool { true }

  public func trainingIndices(for task: ContinualTask, in run: ContinualRun) -> [Int] {
    run.stream.tasks.prefix(task.index + 1).flatMap(\.trainIndices)
  }
}
