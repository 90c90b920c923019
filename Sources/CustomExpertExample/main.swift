// A researcher's own expert type, plugged into a continual run from Swift.
// Walked through in notebooks-md/04-custom-experts.md; run it with
//   swift run custom-expert-example
import ExpertStream
import Foundation

/// A two-layer perceptron with a residual connection around its second layer.
///
/// Any `Module` subclass conforming to `Expert` plugs in: the module walk finds `encoder`,
/// `mixer` and `classifier`, so the expert is optimised, frozen and saved in checkpoints
/// like the built-in ones. `hidden` is h_i, the vector the attentive gate reads.
final class ResidualExpert: Module, Expert {
  let encoder: Linear
  let mixer: Linear
  let classifier: Linear

  init(inputs: Int, width: Int, classes: Int, using generator: inout RandomGenerator) throws {
    encoder = try Linear(inputs, width, weightInitializer: .heUniform, using: &generator)
    mixer = try Linear(width, width, weightInitializer: .heUniform, using: &generator)
    classifier = try Linear(width, classes, using: &generator)
  }

  var classCount: Int { classifier.outputCount }
  var hiddenCount: Int { encoder.outputCount }

  func callAsFunction(_ input: Tensor) throws -> ExpertOutput {
    let flat = try input.reshaped([input.shape[0], encoder.inputCount])
    let first = try encoder(flat).relu()
    let hidden = try (first + mixer(first)).relu()
    return ExpertOutput(logits: try classifier(hidden), hidden: hidden)
  }
}

do {
  // The quick scenario: 3 tasks of FashionMNIST, one expert spawned and frozen per task.
  let scenario = try Scenario.load(
    "tasks/quick.json", overrides: ["checkpoint.directory=checkpoints/custom-expert"])
  let (train, test) = try scenario.loadDatasets()
  let stream = TaskStream(scenario: scenario, train: train, test: test)

  // Every expert of the run, the first one and those spawned later, is a ResidualExpert.
  // Its width is the attentive gate's attention dimension (32 in quick.json).
  let run = try ContinualRun(scenario: scenario, stream: stream) { generator in
    try ResidualExpert(inputs: 784, width: 32, classes: 10, using: &generator)
  }
  let result = try run.run { event in
    if case .taskFinished(let report) = event {
      let accuracy = report.accuracyClassIL.map { String(format: "%.1f", 100 * $0) }
      print(
        "after task \(report.task + 1): class-IL accuracy (%) \(accuracy.joined(separator: " "))")
    }
  }
  for expert in result.experts {
    print(
      "expert \(expert.id): \(type(of: run.model.experts[expert.id])), spawned at task "
        + "\(expert.spawnedAtTask + 1), classes \(expert.classes)")
  }

  // By hand: one more expert for whatever comes next, trainable, then frozen.
  var generator = RandomGenerator(seed: 7)
  let extra = try run.model.addExpert(
    ResidualExpert(inputs: 784, width: 32, classes: 10, using: &generator), using: &generator)
  print("added expert \(extra); frozen: \(run.model.isFrozen(expert: extra))")
  try run.model.freeze(expert: extra)
  print("frozen now: \(run.model.isFrozen(expert: extra))")

  // The checkpoint records the user type's name as the expert's kind.
  let path = "checkpoints/custom-expert/latest.h5"
  try Checkpoint.write(run.state, to: path, toolVersion: "example")
  let summary = try Checkpoint.summary(of: path)
  print("\(path): experts of kind \(Set(summary.experts.map(\.kind)).sorted())")
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
