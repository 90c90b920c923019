// A researcher's own expert type and lifecycle policy, plugged into continual runs from
// Swift and, registered by name, into the command line.
// Walked through in notebooks-md/04-custom-experts.md; run it with
//   swift run custom-expert-example                    (the walk-through below)
//   swift run custom-expert-example run SCENARIO …     (expertstream's command line)
import ExpertStream
import ExpertStreamCLI
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

  /// An expert sized by what the run knows: the flattened sample, the gate's dimension d
  /// (`model.hidden`'s last width) and the class count.
  init(_ context: ExpertContext, using generator: inout RandomGenerator) throws {
    let width = context.hiddenCount
    encoder = try Linear(
      context.inputCount, width, weightInitializer: .heUniform, using: &generator)
    mixer = try Linear(width, width, weightInitializer: .heUniform, using: &generator)
    classifier = try Linear(width, context.classCount, using: &generator)
  }

  private init(encoder: Linear, mixer: Linear, classifier: Linear) {
    self.encoder = encoder
    self.mixer = mixer
    self.classifier = classifier
  }

  /// Its layers never change after `init`, so the module walk may cache them.
  override var reportsStructureChanges: Bool { true }

  /// The same expert over copies of its layers: what `copy()` of it, or of a mixture
  /// holding it, builds on.
  override func makeCopy() throws -> Module {
    ResidualExpert(
      encoder: try encoder.copy(), mixer: try mixer.copy(), classifier: try classifier.copy())
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

/// Spawns one expert every other task and freezes the trainable ones after every second
/// task, so each expert learns two consecutive tasks: half the experts of
/// spawn-and-freeze.
///
/// Like every policy it keeps no state of its own (it decides from the task's index), so
/// checkpoints and resume work unchanged.
struct SpawnEveryOtherTask: LifecyclePolicy {
  var name: PolicyName { PolicyName(rawValue: "spawn-every-other-task") }

  func initialExpertCount(for scenario: Scenario) -> Int { 1 }

  func prepare(for task: ContinualTask, in run: ContinualRun) throws {
    if task.index > 0, task.index.isMultiple(of: 2) { try run.spawnExpert(for: task) }
  }

  func finish(_ task: ContinualTask, in run: ContinualRun) throws {
    if !task.index.isMultiple(of: 2) { try run.freezeTrainableExperts(afterTask: task) }
  }
}

/// Prints a finished task's class-IL accuracies.
func printAccuracy(_ report: TaskReport) {
  let accuracy = report.accuracyClassIL.map { String(format: "%.1f", 100 * $0) }
  print("after task \(report.task): class-IL accuracy (%) \(accuracy.joined(separator: " "))")
}

struct StopAfterTwoTasks: Error {}

do {
  // By name: scenario files (`"model": {"expert": "residual"}`, `"lifecycle": {"policy":
  // "spawn-every-other-task"}`), `--policy`, and resuming checkpoints find them here.
  try ExpertKind.register(ExpertKind(rawValue: "residual")) { context, generator in
    try ResidualExpert(context, using: &generator)
  }
  try PolicyName.register(SpawnEveryOtherTask())

  // With arguments, the program is expertstream's command line, with the names above.
  let arguments = Array(CommandLine.arguments.dropFirst())
  if !arguments.isEmpty {
    signal(SIGPIPE, SIG_IGN)  // as expertstream: `… | head` stops the run cleanly
    exit(ExpertStreamTool.main(arguments))
  }

  // The quick scenario: 3 tasks of FashionMNIST, one expert spawned and frozen per task.
  let scenario = try Scenario.load(
    "tasks/quick.json", overrides: ["checkpoint.directory=checkpoints/custom-expert"])
  let (train, test) = try scenario.loadDatasets()
  let stream = TaskStream(scenario: scenario, train: train, test: test)

  // Every expert of the run, the first one and those spawned later, is a ResidualExpert,
  // made by this factory instead of the scenario's `mlp` kind.
  let run = try ContinualRun(scenario: scenario, stream: stream) { context, generator in
    try ResidualExpert(context, using: &generator)
  }
  let result = try run.run { event in
    if case .taskFinished(let report) = event { printAccuracy(report) }
  }
  for expert in result.experts {
    print(
      "expert \(expert.id): \(type(of: run.model.experts[expert.id])), spawned at task "
        + "\(expert.spawnedAtTask), classes \(expert.classes)")
  }

  // By hand: one more expert for whatever comes next, trainable, then frozen.
  var generator = RandomGenerator(seed: 7)
  let next = ExpertContext(scenario: scenario, task: stream.tasks.count)
  let extra = try run.model.addExpert(
    ResidualExpert(next, using: &generator), using: &generator)
  print("added expert \(extra); frozen: \(run.model.isFrozen(expert: extra))")
  try run.model.freeze(expert: extra)
  print("frozen now: \(run.model.isFrozen(expert: extra))")

  // A copy of the trained mixture has its own storage: training it leaves the run's alone.
  let twin = try run.model.copy()
  let shared = zip(twin.state(), run.model.state()).filter {
    $0.tensor.storage === $1.tensor.storage
  }
  print(
    "copy: \(twin.experts.count) experts, frozen \(twin.experts.indices.map(twin.isFrozen))"
      + ", tensors shared with the original: \(shared.count)")

  // The checkpoint records the user type's name as the kind of a factory's experts.
  let path = "checkpoints/custom-expert/latest.h5"
  try Checkpoint.write(run.state, to: path, toolVersion: "example")
  let summary = try Checkpoint.summary(of: path)
  print("\(path): experts of kind \(Set(summary.experts.map(\.kind)).sorted())")

  // The registered names in a run with a home: a checkpoint after every task, stopped
  // after task 1, the second (as a killed process would be), then resumed from its checkpoint.
  let named = try Scenario.load(
    "tasks/quick.json",
    overrides: [
      "model.expert=residual", "lifecycle.policy=spawn-every-other-task",
      "checkpoint.directory=checkpoints/custom-policy",
    ])
  // A fresh start: `resume()` takes the newest complete checkpoint in the directory, which
  // could otherwise be a task file of an earlier execution that ran to the end.
  try? FileManager.default.removeItem(atPath: named.checkpoint.directory)
  let experiment = ContinualExperiment(
    scenario: named, stream: TaskStream(scenario: named, train: train, test: test),
    checkpointDirectory: named.checkpoint.directory)
  do {
    _ = try experiment.run { event in
      guard case .progress(.taskFinished(let report)) = event else { return }
      printAccuracy(report)
      if report.task == 1 { throw StopAfterTwoTasks() }
    }
  } catch is StopAfterTwoTasks {
    print("stopped after task 1")
  }
  _ = try experiment.resume { event in
    if case .resumed(let file, let done, let of) = event {
      print("resumed from \(file): \(done) of \(of) tasks done")
    }
    if case .progress(.taskFinished(let report)) = event { printAccuracy(report) }
  }
  let resumed = try Checkpoint.summary(of: "\(named.checkpoint.directory)/latest.h5")
  print("policy \(resumed.policy), \(resumed.tasks.count) tasks")
  for expert in resumed.experts {
    print(
      "\(expert.name): kind \(expert.kind), spawned at task \(expert.spawnedAtTask), "
        + (expert.frozenAtTask.map { "frozen after task \($0)" } ?? "trainable")
        + ", classes \(expert.classes)")
  }
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
