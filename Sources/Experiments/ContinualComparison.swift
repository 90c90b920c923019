import Checkpoints
import Continual
import Datasets
import Foundation

/// A continual scenario trained under several lifecycle policies and seeds: one
/// ``ContinualExperiment`` per policy and seed, in order, each checkpointed in its own
/// directory.
///
/// Seeds count from the scenario's `training.seed`. One run checkpoints into the
/// scenario's `checkpoint.directory`; several into `<directory>/<policy>/seed_<seed>`.
public struct ContinualComparison {
  /// One run of the comparison.
  public struct Run {
    /// The run's lifecycle policy.
    public let policy: PolicyName
    /// The scenario with the run's seed and policy.
    public let scenario: Scenario
    /// The experiment: the scenario's task stream, checkpointed into its directory.
    public let experiment: ContinualExperiment
  }

  /// What a comparison reports, in order, to its `events` closure.
  public enum Event {
    /// `Run` starts (before any checkpoint is looked for).
    case started(Run)
    /// What the run's experiment reports.
    case experiment(Run, ContinualExperiment.Event)
    /// `Run` finished with `ContinualResult` (after the metrics file was written).
    case finished(Run, ContinualResult)
  }

  /// Where runs start.
  public enum Start {
    /// From the first task.
    case firstTask
    /// From the newest complete checkpoint in each run's directory (see
    /// ``CheckpointDirectory/newestCompleteCheckpoint(in:)``).
    case newestCheckpoint
    /// From this checkpoint file (for a comparison of one run).
    case checkpoint(String)
  }

  /// The runs, policy by policy, seeds innermost.
  public let runs: [Run]

  /// The runs of `scenario` under `policies` (default: the scenario's lifecycle policy) ×
  /// `seeds` seeds, over the `train` and `test` datasets.
  public init(
    scenario: Scenario, policies: [PolicyName]? = nil, seeds: Int = 1, train: Dataset,
    test: Dataset
  ) {
    let policies = policies ?? [scenario.lifecycle.policy]
    let several = policies.count * seeds > 1
    runs = policies.flatMap { policy in
      (0..<seeds).map { offset in
        var scenario = scenario
        scenario.training.seed += offset
        scenario.lifecycle.policy = policy
        let directory =
          several
          ? "\(scenario.checkpoint.directory)/\(policy)/seed_\(scenario.training.seed)"
          : scenario.checkpoint.directory
        return Run(
          policy: policy, scenario: scenario,
          experiment: ContinualExperiment(
            scenario: scenario, stream: TaskStream(scenario: scenario, train: train, test: test),
            checkpointDirectory: directory))
      }
    }
  }

  /// Trains every run in order; after each, rewrites `metricsFile` (when given) with the
  /// metrics of the runs so far (see ``metricsJSON(_:)``), so a comparison cut short keeps
  /// what finished.
  ///
  /// An error `events` throws stops the comparison there and is rethrown.
  /// - Throws: ``NoCheckpointError`` when `start` is `.newestCheckpoint` and a run's
  ///   directory holds none; what ``ContinualExperiment/run(resumingFrom:events:)``
  ///   throws; ``FileSystemError`` when the metrics file cannot be written.
  public func run(
    from start: Start = .firstTask, metricsFile: String? = nil,
    events: (Event) throws -> Void = { _ in }
  ) throws -> [ContinualResult] {
    var results: [ContinualResult] = []
    for run in runs {
      try events(.started(run))
      let directory = run.experiment.checkpointDirectory
      var file: String?
      switch start {
      case .firstTask: break
      case .checkpoint(let path): file = path
      case .newestCheckpoint:
        let (newest, notes) = CheckpointDirectory.newestCompleteCheckpoint(in: directory)
        for note in notes { try events(.experiment(run, .note(note))) }
        guard let newest else { throw NoCheckpointError(directory: directory) }
        file = newest
      }
      let result = try run.experiment.run(resumingFrom: file) {
        try events(.experiment(run, $0))
      }
      results.append(result)
      if let metricsFile {
        try FileSystem.writeAtomically(try Self.metricsJSON(results), to: metricsFile)
      }
      try events(.finished(run, result))
    }
    return results
  }

  /// The `--metrics-json` file of `results`: one run's metrics object, or
  /// `{"runs": [...]}` for several; sorted keys, pretty-printed.
  public static func metricsJSON(_ results: [ContinualResult]) throws -> Data {
    let metrics = results.map(\.metrics)
    guard metrics.count == 1 else {
      return try JSONOutput.data(encoding: ["runs": metrics], pretty: true)
    }
    return try JSONOutput.data(encoding: metrics[0], pretty: true)
  }
}

/// A run was to resume from its newest checkpoint, and its directory holds none.
public struct NoCheckpointError: Error, CustomStringConvertible {
  /// The run's checkpoint directory.
  public let directory: String

  /// The error for `directory`.
  public init(directory: String) { self.directory = directory }

  public var description: String {
    "there is no checkpoint in \(directory) to resume from\n"
      + "hint: drop --resume to start from the first task"
  }
}
