import Checkpoints
import Continual
import Datasets
import Foundation
import MoE

/// The paper comparison a paper scenario describes: its one task (every class) of the
/// training and test sets, with the scenario's model, training and regularizer settings.
///
/// ``run(methods:seeds:metricsFile:progress:finished:)`` trains every method with every
/// seed; its ``experiment`` runs one (see ``PaperExperiment``).
public struct PaperComparison {
  /// The experiment: settings mirroring the scenario, and the task's training and test
  /// samples.
  public let experiment: PaperExperiment
  /// The first seed of ``run(methods:seeds:metricsFile:progress:finished:)``: the
  /// scenario's `training.seed`.
  public let seed: UInt64

  /// The comparison `scenario` describes over `train` and `test`; `file` names the
  /// scenario in errors.
  ///
  /// The task holds every class of the scenario's class groups; the settings take the
  /// scenario's experts, class count, epochs, batch size, optimizer, loss, regularizers and
  /// `paper` section (distillation epochs, the single network's weight decay, the method
  /// distilled from).
  ///
  /// - Throws: ``ScenarioError`` at `model.expert` when the scenario's expert is not a paper
  ///   architecture (`paper-mnist`, `paper-fmnist`, `paper-cifar100`).
  public init(scenario: Scenario, file: String, train: Dataset, test: Dataset) throws {
    guard let architecture = scenario.model.expert.paperArchitecture else {
      throw ScenarioError(
        file: file, path: "model.expert",
        message: "paper runs need a paper architecture (paper-mnist, paper-fmnist, paper-cifar100)")
    }
    let stream = TaskStream(
      scenario: scenario, train: train, test: test,
      classGroups: [scenario.classGroups.flatMap { $0 }])
    let task = stream.tasks[0]
    var settings = PaperExperimentSettings(architecture: architecture)
    settings.experts = scenario.model.experts
    settings.classes = scenario.classCount
    settings.epochs = scenario.training.epochs
    settings.distillationEpochs = scenario.paper.distillationEpochs
    settings.batchSize = scenario.training.batchSize
    settings.learningRate = Float(scenario.training.optimizer.learningRate)
    settings.weightDecay = Float(scenario.training.optimizer.weightDecay)
    settings.singleWeightDecay = Float(scenario.paper.singleWeightDecay)
    settings.loss = scenario.training.loss
    if let similarity = scenario.regularizers.sampleSimilarity {
      settings.sampleSimilarity = similarity
    }
    if let importance = scenario.regularizers.importance { settings.importance = importance }
    settings.distillFrom = scenario.paper.distillFrom
    seed = UInt64(scenario.training.seed)
    experiment = PaperExperiment(
      settings: settings, train: TaskView(dataset: train, indices: task.trainIndices),
      test: TaskView(dataset: test, indices: task.testIndices))
  }

  // MARK: - Running

  /// Trains `methods` (in order) with each of `seeds` seeds from ``seed``, seed by seed;
  /// after each run, rewrites `metricsFile` (when given) with the runs so far (see
  /// ``PaperReport/json(_:)``), so a comparison cut short keeps what finished.
  ///
  /// `distilled` starts from the model this seed trained with the settings' `distillFrom`
  /// method when `methods` lists that method first, else from a model it trains itself.
  /// An error `finished` throws stops the comparison there and is rethrown.
  /// - Throws: what ``PaperExperiment/run(_:seed:startingFrom:progress:)`` throws;
  ///   ``FileSystemError`` when the metrics file cannot be written.
  public func run(
    methods: [PaperMethod], seeds: Int, metricsFile: String? = nil,
    progress: (PaperMethod, UInt64, PaperRunProgress) -> Void = { _, _, _ in },
    finished: (PaperRunResult) throws -> Void = { _ in }
  ) throws -> [PaperRunResult] {
    var results: [PaperRunResult] = []
    for seed in seed..<(seed + UInt64(seeds)) {
      var trained: [PaperMethod: MixtureOfExperts] = [:]
      for method in methods {
        let reuse = method == .distilled ? trained[experiment.settings.distillFrom] : nil
        let (result, model) = try experiment.run(method, seed: seed, startingFrom: reuse) {
          progress(method, seed, $0)
        }
        trained[method] = model
        results.append(result)
        if let metricsFile {
          try FileSystem.writeAtomically(try PaperReport.json(results), to: metricsFile)
        }
        try finished(result)
      }
    }
    return results
  }
}
