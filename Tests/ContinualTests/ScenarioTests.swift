import Continual
import Datasets
import Foundation
import MoE
import Testing
import _TestSupport

private func parse(_ json: String, overrides: [String] = []) throws -> Scenario {
  try Scenario.parse(Data(json.utf8), file: "test.json", overrides: overrides)
}

/// The error `json` gives, as text, or a recorded issue when it parses.
private func failure(_ json: String, overrides: [String] = []) -> ScenarioError? {
  do {
    _ = try parse(json, overrides: overrides)
    Issue.record("expected \(json) to be rejected")
    return nil
  } catch let error as ScenarioError {
    return error
  } catch {
    Issue.record("unexpected error \(error)")
    return nil
  }
}

@Test func theShippedScenariosAreValid() throws {
  let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../tasks").standardized
  // Sweep files are checked by SweepsTests.
  let files = try FileManager.default.contentsOfDirectory(atPath: tasks.path).filter {
    $0.hasSuffix(".json") && !isSweepFile(tasks.appendingPathComponent($0).path)
  }
  #expect(
    Set(files).isSuperset(of: [
      "split-fashion-mnist.json", "split-mnist.json", "split-cifar100.json",
      "paper-fashion-mnist.json", "paper-mnist.json", "quick.json",
    ]))
  for file in files {
    let scenario = try Scenario.load(tasks.appendingPathComponent(file).path)
    #expect(scenario.name + ".json" == file)
  }
  let split = try Scenario.load(tasks.appendingPathComponent("split-cifar100.json").path)
  #expect(split.classGroups.count == 10 && split.classGroups.allSatisfy { $0.count == 10 })
}

@Test func defaultsAndOverridesResolve() throws {
  let scenario = try parse(
    #"{"name": "t", "split": {"tasks": 2, "classes_per_task": 3}}"#,
    overrides: ["training.epochs=4", "model.gate=softmax", "dataset.train_samples_per_class=20"])
  #expect(scenario.training.epochs == 4)
  #expect(scenario.model.gate == .softmax)
  #expect(scenario.dataset.trainSamplesPerClass == 20)
  #expect(scenario.classGroups == [[0, 1, 2], [3, 4, 5]])
  #expect(scenario.checkpoint.directory == "checkpoints/t")
  // A checkpoint section without a directory (such as a sweep's checkpoint.every_task
  // override) keeps the default directory of the scenario's name.
  let everyTask = try parse(#"{"name": "t"}"#, overrides: ["checkpoint.every_task=false"])
  #expect(everyTask.checkpoint.directory == "checkpoints/t" && !everyTask.checkpoint.everyTask)
  let permuted = try parse(
    #"{"split": {"tasks": 5, "classes_per_task": 2, "order": "permuted", "seed": 3}}"#)
  #expect(Set(permuted.classGroups.flatMap { $0 }) == Set(0..<10))
  #expect(permuted.classGroups != [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]])
  #expect(
    try parse(#"{"split": {"tasks": 5, "classes_per_task": 2, "order": "permuted", "seed": 3}}"#)
      .hash == permuted.hash)
  #expect(try parse("{}", overrides: ["training.seed=1"]).hash != (try parse("{}").hash))
}

@Test func anUnknownKeyIsNamedWithItsPathAndASuggestion() {
  let error = failure(#"{"training": {"epoch": 3}}"#)
  #expect(error?.path == "training.epoch")
  #expect(error?.description.contains("did you mean 'epochs'") == true)
}

@Test func aWrongTypeNamesThePathAndWhatWasFound() {
  let error = failure(#"{"training": {"epochs": "three"}}"#)
  #expect(error?.path == "training.epochs")
  #expect(error?.message == #"expected an integer, found the string "three""#)
  #expect(failure(#"{"dataset": {"augment": 1}}"#)?.path == "dataset.augment")
  #expect(failure(#"{"training": {"batch_size": 2.5}}"#)?.path == "training.batch_size")
}

@Test func aClassOutOfRangeIsNamed() {
  let error = failure(#"{"split": {"groups": [[0, 1], [12, 3]]}}"#)
  #expect(error?.path == "split.groups[1][0]")
  #expect(error?.message == "class 12 is out of range 0..<10 of fashion-mnist")
}

@Test func aClassInTwoTasksIsNamed() {
  let error = failure(#"{"split": {"groups": [[0, 1], [2, 1]]}}"#)
  #expect(error?.path == "split.groups[1][1]")
  #expect(error?.message.contains("already in task 0") == true)
}

@Test func anEmptyTaskIsNamed() {
  let error = failure(#"{"split": {"groups": [[0, 1], []]}}"#)
  #expect(error?.path == "split.groups[1]")
  #expect(error?.message == "task 1 has no classes")
  #expect(failure(#"{"split": {"groups": []}}"#)?.path == "split.groups")
}

@Test func otherMistakesAreCaught() {
  #expect(failure(#"{"split": {"tasks": 6, "classes_per_task": 2}}"#)?.path == "split")
  #expect(failure(#"{"model": {"expert": "paper-cifar100"}}"#)?.path == "model.expert")
  #expect(failure(#"{"model": {"attention_dim": 64}}"#)?.path == "model.attention_dim")
  #expect(failure(#"{"lifecycle": {"policy": "spawn"}}"#)?.path == "lifecycle.policy")
  #expect(
    failure(#"{"training": {"optimizer": {"momentum": 0.9}}}"#)?.path
      == "training.optimizer.momentum")
  #expect(failure("{not json")?.message.hasPrefix("not valid JSON") == true)
  #expect(failure("{}", overrides: ["training.epochs"])?.file == "--set")
  #expect(failure("{}", overrides: ["training.epochs=-1"])?.path == "training.epochs")
  #expect(failure(#"{"lifecycle": {"gate_epochs": -1}}"#)?.path == "lifecycle.gate_epochs")
  let sweep = failure(#"{"scenario": "quick.json", "axes": {"seed": 3}}"#)
  #expect(sweep?.path == "axes")
  #expect(sweep?.message.contains("expertstream sweep") == true)
}

@Test func gateEpochsEntersTheHashOnlyWhenSet() throws {
  let plain = try parse("{}")
  #expect(try parse(#"{"lifecycle": {"gate_epochs": 0}}"#).hash == plain.hash)
  let tuned = try parse(#"{"lifecycle": {"gate_epochs": 5}}"#)
  #expect(tuned.lifecycle.gateEpochs == 5)
  #expect(tuned.hash != plain.hash)
}

@Test func evaluatingOnValidationNeedsHeldOutSamplesAndAContinualRun() throws {
  let plain = try parse("{}")
  #expect(plain.dataset.evaluateOn == .test)
  #expect(try parse(#"{"dataset": {"evaluate_on": "test"}}"#).hash == plain.hash)
  let validated = try parse(#"{"dataset": {"evaluate_on": "validation"}}"#)
  #expect(validated.dataset.evaluateOn == .validation)
  #expect(validated.hash != plain.hash)
  #expect(failure(#"{"dataset": {"evaluate_on": "val"}}"#)?.path == "dataset.evaluate_on")
  let nothingHeld = failure(
    #"{"dataset": {"evaluate_on": "validation", "validation_fraction": 0}}"#)
  #expect(nothingHeld?.path == "dataset.evaluate_on")
  #expect(nothingHeld?.message.contains("validation_fraction") == true)
  let paper = failure(
    #"{"mode": "paper", "model": {"experts": 5}, "dataset": {"evaluate_on": "validation"}}"#)
  #expect(paper?.path == "dataset.evaluate_on")
}

@Test func convolutionalExpertsAndTheGateTrunkAreConfigured() throws {
  let plain = try parse("{}")
  let mlp = try parse(#"{"model": {"expert": "mlp", "hidden": [256, 32]}}"#)
  #expect(mlp.model.gateTrunkWidths == [256, 32])
  let conv = try parse(
    #"{"model": {"expert": "conv", "channels": 16, "hidden": [64, 32], "gate_hidden": [256, 32]}}"#
  )
  #expect(conv.model.channels == 16 && conv.model.gateTrunkWidths == [256, 32])
  #expect(conv.hiddenCount == 32 && conv.gateHiddenCount == 32)
  #expect(try parse(#"{"model": {"expert": "conv"}}"#).model.channels == 8)
  #expect(try parse(#"{"model": {"expert": "conv"}}"#).hash != plain.hash)
  #expect(
    failure(#"{"model": {"expert": "mlp", "channels": 4}}"#)?.path == "model.channels")
  #expect(
    failure(#"{"model": {"expert": "conv", "channels": 0}}"#)?.path == "model.channels")
  #expect(failure(#"{"model": {"gate_hidden": [64, 32]}}"#)?.path == "model.gate_hidden")
  let mismatch = failure(
    #"{"model": {"expert": "mlp", "hidden": [64, 32], "gate_hidden": [64, 16]}}"#)
  #expect(mismatch?.path == "model.gate_hidden")
  #expect(mismatch?.message.contains("attentive") == true)
  let softmax = try parse(
    #"{"model": {"expert": "mlp", "gate": "softmax", "hidden": [64, 32], "gate_hidden": [16]}}"#)
  #expect(softmax.gateHiddenCount == 16)
}

@Test func randomScenarioTextNeverCrashesTheParser() {
  let fragments = [
    "{", "}", "[", "]", ",", ":", "\"split\"", "\"groups\"", "\"tasks\"", "1", "-3", "2.5", "null",
    "true", "\"model\"", "\"experts\"", "\"name\"", "\"x\"", "1e99", "\"training\"", "\"epochs\"",
    "1e400", String(repeating: "7", count: 400), "-1", "\"\\u", "\"\\ud800\"", "\n", "\"é",
    "\"paper\"", "\"methods\"", "[]", "\"checkpoint\"", "\"directory\"", "\"\"", "\"..\"",
  ]
  var seed: UInt64 = 0x9e37_79b9
  var rejected = 0
  for _ in 0..<3000 {
    var text = ""
    for _ in 0..<12 {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      text += fragments[Int(seed >> 33) % fragments.count]
    }
    do { _ = try parse(text) } catch is ScenarioError { rejected += 1 } catch {
      Issue.record("non-scenario error \(error) for \(text)")
    }
  }
  #expect(rejected > 2900)
}

@Test(arguments: [
  ("lifecycle.replay_samples=-1", "lifecycle.replay_samples", "-1 is out of range 0...1000000"),
  ("lifecycle.experts_per_task=0", "lifecycle.experts_per_task", "0 is out of range 1...64"),
  ("lifecycle.gate_epochs=-1", "lifecycle.gate_epochs", "-1 is out of range 0...10000"),
  ("lifecycle.reuse_threshold=1.5", "lifecycle.reuse_threshold", "1.5 is out of range 0.0...1.0"),
  ("lifecycle.ewc_lambda=-1", "lifecycle.ewc_lambda", "-1.0 is out of range 0.0...1000000000.0"),
  ("training.batch_size=1", "training.batch_size", "1 is out of range 2...65536"),
  ("training.epochs=-1", "training.epochs", "-1 is out of range 0...10000"),
  ("training.seed=-1", "training.seed", "-1 is out of range 0...2147483647"),
  (
    "training.optimizer.learning_rate=0", "training.optimizer.learning_rate",
    "0.0 is out of range 1e-12...10.0"
  ),
  ("model.experts=0", "model.experts", "0 is out of range 1...1024"),
  ("model.hidden=[400,-1]", "model.hidden[1]", "-1 is out of range 1...65536"),
  ("split.tasks=0", "split.tasks", "0 is out of range 1...1000"),
  ("split.classes_per_task=-2", "split.classes_per_task", "-2 is out of range 1...1000"),
  (
    "dataset.train_samples_per_class=1", "dataset.train_samples_per_class",
    "1 is out of range 2...1000000"
  ),
  (
    "dataset.test_samples_per_class=0", "dataset.test_samples_per_class",
    "0 is out of range 1...1000000"
  ),
  (
    "dataset.validation_fraction=-0.1", "dataset.validation_fraction",
    "-0.1 is out of range 0.0...0.9"
  ),
  ("paper.seeds=0", "paper.seeds", "0 is out of range 1...1000"),
  ("paper.distillation_epochs=-5", "paper.distillation_epochs", "-5 is out of range 0...10000"),
])
func everyCountAndRateIsCheckedAgainstItsRange(override: String, path: String, message: String) {
  let error = failure("{}", overrides: [override])
  #expect(error?.path == path)
  #expect(error?.message == message)
}

@Test func aClassBelowZeroGivesTheDatasetsRange() {
  let error = failure(#"{"split": {"groups": [[0, -1]]}}"#)
  #expect(error?.path == "split.groups[0][1]")
  #expect(error?.message == "class -1 is out of range 0..<10 of fashion-mnist")
}

@Test func listsThatNeedAnItemMustNotBeEmpty() {
  let methods = failure(#"{"mode": "paper", "paper": {"methods": []}}"#)
  #expect(
    methods?.description
      == "test.json: paper.methods: needs at least one method; one of single, original, "
      + "original+importance, original+ls, attentive, attentive+importance, attentive+ls, "
      + "distilled")
  let twice = failure(#"{"mode": "paper", "paper": {"methods": ["single", "single"]}}"#)
  #expect(twice?.path == "paper.methods[1]" && twice?.message == "'single' is listed twice")
  #expect(
    failure(#"{"model": {"expert": "mlp", "hidden": []}}"#)?.message
      == "needs at least one width")
}

@Test func checkpointPathsThatLeaveTheirDirectoryAreRejected() {
  let directory = failure(#"{"name": "s", "checkpoint": {"directory": ""}}"#)
  #expect(
    directory?.description
      == #"test.json: checkpoint.directory: an empty path is no directory: give one such as "#
      + #""checkpoints/s", or leave the field out for that default"#)
  for name in ["..", ".", "a/b", "", "x\u{0}y"] {
    let error = failure(#"{"name": "\#(name.replacingOccurrences(of: "\u{0}", with: "\\u0000"))"}"#)
    #expect(error?.path == "name")
    #expect(
      error?.message
        == "'\(name)' cannot name the checkpoint directory checkpoints/<name>: give a non-empty "
        + "name other than '.' and '..', without '/'")
  }
}

@Test func aKeyGivenTwiceIsNamedWithBothLines() {
  let error = failure("{\n  \"training\": {\"epochs\": 1,\n    \"epochs\": 2}\n}")
  #expect(
    error?.description
      == "test.json:3:5: training.epochs: duplicate key 'epochs' (first at line 2, again at "
      + "line 3); keep one")
  #expect(failure(#"{"name": "a", "name": "a"}"#)?.path == "name")
}

@Test func syntaxErrorsGiveLineAndColumn() {
  #expect(
    failure("{not json")?.description
      == "test.json:1:2: not valid JSON: expected a key in double quotes, found 'n'")
  #expect(
    failure("{\n  \"a\": 1,\n  \"b\" 2}")?.description
      == "test.json:3:7: not valid JSON: expected ':' after the key 'b', found '2'")
  #expect(
    failure("{\"name\": \"é\n")?.description
      == "test.json:1:12: not valid JSON: a control character inside a string; write it as an "
      + "escape such as \\n")
  #expect(
    failure("{\"name\": \"x")?.description
      == "test.json:1:12: not valid JSON: the string opened at line 1 is never closed")
  #expect(
    failure("{} {}")?.description
      == "test.json:1:4: not valid JSON: unexpected '{' after the JSON value")
  #expect(
    failure(String(repeating: "[", count: 1000))?.description
      == "test.json:1:257: not valid JSON: nested more than 256 levels deep")
}

@Test func numbersBeyondAnIntOrAFloatAreErrorsWithTheirPosition() {
  #expect(
    failure("{\n  \"training\": {\"epochs\": 1e400}}")?.description
      == "test.json:2:26: training.epochs: the number 1e400 is out of range for a Float "
      + "(magnitude at most 1.7976931348623157e+308)")
  let digits = String(repeating: "9", count: 1000)
  #expect(
    failure(#"{"training": {"seed": \#(digits)}}"#)?.description
      == "test.json:1:23: training.seed: the number 99999999999999999999… (1000 characters) is "
      + "out of range for an Int (-9223372036854775808...9223372036854775807)")
  let override = failure("{}", overrides: ["training.optimizer.learning_rate=-1e999"])
  #expect(override?.file == "--set" && override?.path == "training.optimizer.learning_rate")
  #expect(
    override?.message.hasSuffix(
      "is out of range for a Float (magnitude at most "
        + "1.7976931348623157e+308)") == true)
}

@Test func theModelsMemoryIsEstimatedFromItsSettings() throws {
  let small = try parse(
    #"{"model": {"expert": "mlp", "gate": "softmax", "hidden": [3]}}"#)
  let estimate = small.memoryEstimate
  // 784 → 3 → 10 classes; the gate's trunk 784 → 3 and its scores 3 → 5 experts.
  #expect(estimate.parametersPerExpert == 2395)
  #expect(estimate.gateParameters == 2375)
  #expect(estimate.experts == 5)
  #expect(estimate.activationsPerSample == 136)
  let spawning = try parse(#"{"lifecycle": {"experts_per_task": 4}, "model": {"experts": 2}}"#)
  #expect(spawning.memoryEstimate.experts == 4 * 5)
  #expect(spawning.memoryEstimate.evidenceBytes == 0)
  // The evidence gate: 10 classes of (rank + 1) × 784 floats, and a task's two 784 × 784
  // scatter matrices of doubles while fitting.
  let evidence = try parse(
    #"{"lifecycle": {"policy": "spawn-and-freeze", "gate": "evidence", "evidence_rank": 7, "expert_granularity": "class"}}"#
  )
  #expect(evidence.memoryEstimate.experts == 10)
  #expect(evidence.memoryEstimate.evidenceBytes == 4 * 8 * 784 * 10 + 8 * 784 * 784 * 2)
}

@Test func aModelLargerThanTheMachinesMemoryIsRejected() {
  let error = failure("{}", overrides: ["model.expert=mlp", "model.hidden=[65536,65536]"])
  let memory = String(
    format: "%.1f GiB", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)
  #expect(error?.path == "model")
  #expect(
    error?.message
      == "the model needs about 518.2 GiB (5 experts of 4.35 G parameters and a gate of 12.94 G, "
      + "with their gradients and Adam's moments, and the activations of a batch of 128), more "
      + "than this machine's \(memory) of memory: use fewer or narrower layers, fewer experts or "
      + "a smaller batch")
}

@Test func anUnreadableScenarioFileSaysWhy() throws {
  let directory = try TemporaryDirectory()
  let fifo = directory.path("fifo.json")
  #expect(mkfifo(fifo, 0o600) == 0)
  for (path, reason) in [
    (directory.url.path, "is a directory, not a file"),
    (fifo, "is not a regular file"),
    (directory.path("absent.json"), "no such file or directory"),
    (directory.path(String(repeating: "x", count: 300)), "file name too long"),
  ] {
    #expect(throws: ScenarioError(file: path, path: "", message: "cannot read: \(reason)")) {
      try Scenario.load(path)
    }
  }
}

@Test func extremeValuesInEveryFieldAreRejectedOrValid() {
  let fields = [
    "name", "mode", "dataset.name", "dataset.train_samples_per_class",
    "dataset.test_samples_per_class", "dataset.validation_fraction", "split.groups",
    "split.tasks", "split.classes_per_task", "split.seed", "model.experts", "model.hidden",
    "model.attention_dim", "model.channels", "model.gate_hidden", "training.epochs",
    "training.batch_size", "training.seed", "training.optimizer.learning_rate",
    "training.optimizer.momentum", "training.optimizer.weight_decay",
    "regularizers.importance.weight", "regularizers.sample_similarity.beta_same",
    "lifecycle.experts_per_task", "lifecycle.reuse_threshold", "lifecycle.replay_samples",
    "lifecycle.ewc_lambda", "lifecycle.gate_epochs", "checkpoint.directory", "paper.methods",
    "paper.seeds", "paper.distillation_epochs", "paper.single_weight_decay",
  ]
  let values = [
    "-1", "0", "1", "-0.5", "1e400", "-1e400", String(repeating: "9", count: 1000), "1e18",
    "65536", "[]", "[[]]", "[-1]", "[65536,65536]", #""""#, #"".""#, #""..""#, "null", "true",
    "{}", #"{"a":1,"a":2}"#,
  ]
  var rejected = 0
  for field in fields {
    for value in values {
      for mode in ["continual", "paper"] {
        do {
          _ = try parse(#"{"mode": "\#(mode)"}"#, overrides: ["\(field)=\(value)"])
        } catch is ScenarioError {
          rejected += 1
        } catch {
          Issue.record("non-scenario error \(error) for \(field)=\(value)")
        }
      }
    }
  }
  #expect(rejected > fields.count * values.count)
}
