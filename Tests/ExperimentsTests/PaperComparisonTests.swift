import Continual
import Datasets
import Experiments
import Foundation
import MoE
import Testing
import _ContinualTestSupport

/// A paper scenario over the six classes of the generated bands, with `expert` as
/// `model.expert`.
private func paperScenario(expert: String) throws -> Scenario {
  try Scenario.parse(
    Data(
      """
      {"name": "tiny-paper", "mode": "paper",
       "dataset": {"name": "mnist", "validation_fraction": 0},
       "split": {"groups": [[0, 1, 2, 3, 4, 5]]},
       "model": {"expert": "\(expert)", "experts": 3, "gate": "attentive"},
       "training": {"epochs": 2, "batch_size": 32, "seed": 0,
                    "optimizer": {"name": "adam", "learning_rate": 0.005, "weight_decay": 0.0001}},
       "regularizers": {"importance": {"weight": 0.3}},
       "paper": {"seeds": 1, "distillation_epochs": 4, "distill_from": "attentive"}}
      """.utf8), file: "tiny-paper.json")
}

@Test func paperComparisonNeedsAPaperArchitecture() throws {
  let scenario = try paperScenario(expert: "mlp")
  let train = try bands(count: 60, split: .train, seed: 1)
  let test = try bands(count: 24, split: .test, seed: 2)
  let error = #expect(throws: ScenarioError.self) {
    try PaperComparison(scenario: scenario, file: "tiny-paper.json", train: train, test: test)
  }
  #expect(error?.path == "model.expert")
  #expect(
    error?.message
      == "paper runs need a paper architecture (paper-mnist, paper-fmnist, paper-cifar100)")
  #expect(
    error?.description
      == "tiny-paper.json: model.expert: paper runs need a paper architecture "
      + "(paper-mnist, paper-fmnist, paper-cifar100)")
}

@Test func paperComparisonMirrorsTheScenario() throws {
  let scenario = try paperScenario(expert: "paper-mnist")
  let train = try bands(count: 60, split: .train, seed: 1)
  let test = try bands(count: 24, split: .test, seed: 2)
  let experiment = try PaperComparison(
    scenario: scenario, file: "tiny-paper.json", train: train, test: test
  ).experiment
  let settings = experiment.settings
  #expect(settings.architecture == .mnist)
  #expect(settings.experts == 3)
  #expect(settings.classes == scenario.classCount)
  #expect(settings.epochs == 2)
  #expect(settings.distillationEpochs == 4)
  #expect(settings.batchSize == 32)
  #expect(settings.learningRate == 0.005)
  #expect(settings.weightDecay == 0.0001)
  #expect(settings.importance.weight == 0.3)
  #expect(settings.distillFrom == .attentive)
  // One task of every class: all the training and test samples.
  #expect(experiment.train.sampleCount == 60)
  #expect(experiment.test.sampleCount == 24)
}

@Test func continualExperimentRecordsTheCurrentVersionByDefault() throws {
  let scenario = try tinyScenario()
  let experiment = ContinualExperiment(
    scenario: scenario, stream: try tinyStream(for: scenario), checkpointDirectory: "unused")
  #expect(experiment.toolVersion == ExpertStreamVersion.current)
  #expect(ExpertStreamVersion.current == "0.4.0")
}
