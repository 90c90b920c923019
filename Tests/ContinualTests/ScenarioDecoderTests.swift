import Continual
import Foundation
import Testing

private func parse(_ json: String, overrides: [String] = []) throws -> Scenario {
  try Scenario.parse(Data(json.utf8), file: "test.json", overrides: overrides)
}

/// The text of the error `json` gives, or "no error".
private func errorText(_ json: String, overrides: [String] = []) -> String {
  do {
    _ = try parse(json, overrides: overrides)
    return "no error"
  } catch {
    return "\(error)"
  }
}

@Test func anUnknownKeyDeepInASectionListsTheAllowedKeysAndTheClosest() {
  #expect(
    errorText(#"{"regularizers": {"sample_similarity": {"beta_sme": 1}}}"#)
      == "test.json: regularizers.sample_similarity.beta_sme: unknown key 'beta_sme' (did you "
      + "mean 'beta_same'?); allowed: beta_same, beta_different, placement")
  #expect(
    errorText(#"{"training": {"optimizer": {"name": "sgd", "zzz": 1}}}"#)
      == "test.json: training.optimizer.zzz: unknown key 'zzz'; allowed: name, learning_rate, "
      + "momentum, weight_decay")
}

@Test func aWrongTypeNamesTheItemAndWhatWasFound() {
  #expect(
    errorText(#"{"model": {"expert": "mlp", "hidden": [64, "32"]}}"#)
      == #"test.json: model.hidden[1]: expected an integer, found the string "32""#)
  #expect(
    errorText(#"{"checkpoint": {"every_task": 1}}"#)
      == "test.json: checkpoint.every_task: expected true or false, found the number 1")
  #expect(
    errorText(#"{"training": {"epochs": true}}"#)
      == "test.json: training.epochs: expected an integer, found true")
  #expect(
    errorText(#"{"split": {"groups": [[0, 1], {"a": 2}]}}"#)
      == "test.json: split.groups[1]: expected an array, found an object")
  #expect(errorText("[]") == "test.json: expected an object, found an array")
}

@Test func aChoiceSuggestsTheClosestName() {
  #expect(
    errorText(#"{"model": {"gate": "sofmax"}}"#)
      == "test.json: model.gate: 'sofmax' is not one of softmax, attentive (did you mean "
      + "'softmax'?)")
  #expect(
    errorText(#"{"mode": "paper", "paper": {"methods": ["single", "atentive"]}}"#)
      == "test.json: paper.methods[1]: 'atentive' is not one of single, original, "
      + "original+importance, original+ls, attentive, attentive+importance, attentive+ls, "
      + "distilled (did you mean 'attentive'?)")
}

@Test func aSyntaxErrorGivesItsLineAndColumn() {
  #expect(
    errorText("{\n  \"training\": {\n    \"epochs\" 2\n  }\n}")
      == "test.json:3:14: not valid JSON: expected ':' after the key 'epochs', found '2'")
}

@Test func anOverrideIsDecodedAtItsPath() throws {
  #expect(
    errorText("{}", overrides: ["lifecycle.gate=replya"])
      == "test.json: lifecycle.gate: 'replya' is not one of trainable, rows-frozen, replay, "
      + "evidence, hybrid (did you mean 'replay'?)")
  #expect(
    errorText("{}", overrides: ["training.optimizer.lerning_rate=0.1"])
      == "test.json: training.optimizer.lerning_rate: unknown key 'lerning_rate' (did you mean "
      + "'learning_rate'?); allowed: name, learning_rate, momentum, weight_decay")
  #expect(
    errorText(#"{"training": 3}"#, overrides: ["training.epochs=2"])
      == "--set: training.epochs: 'epochs' is inside a field that is not an object")
  let scenario = try parse("{}", overrides: ["model.hidden=[8, 4]", "model.expert=mlp"])
  #expect(scenario.model.hiddenWidths == [8, 4] && scenario.model.expert == .mlp)
}

@Test func aDocumentDecodesManyScenariosFromOneRead() throws {
  let document = try Scenario.Document(
    Data(#"{"name": "d", "training": {"epochs": 3}}"#.utf8), file: "test.json")
  let plain = try document.scenario()
  let seeded = try document.scenario(overrides: ["training.seed=7"])
  #expect(plain.training.seed == 0 && seeded.training.seed == 7)
  #expect(seeded.training.epochs == 3 && plain.hash != seeded.hash)
  #expect(try document.scenario() == plain)
  #expect(throws: ScenarioError.self) { try Scenario.Document(Data("{".utf8), file: "x.json") }
}

@Test func anyDecoderReadsTheSameScenario() throws {
  let json = #"""
    {"name": "j", "model": {"expert": "mlp", "hidden": [16, 8], "gate": "softmax"},
     "split": {"groups": [[0, 1], [2]]}, "regularizers": {"importance": {}},
     "lifecycle": {"policy": "reuse-or-spawn", "gate": "rows-frozen"}}
    """#
  let decoded = try JSONDecoder().decode(Scenario.self, from: Data(json.utf8))
  #expect(decoded == (try parse(json)))
  #expect(decoded.hash == (try parse(json)).hash)
}

@Test func theLogDirectoryIsACheckpointFieldOutsideTheHash() throws {
  #expect(
    errorText(#"{"checkpoint": {"log": "x"}}"#)
      == "test.json: checkpoint.log: unknown key 'log'; allowed: directory, every_task, log_dir")
  #expect(
    errorText(#"{"checkpoint": {"log_dir": ""}}"#)
      == "test.json: checkpoint.log_dir: an empty path is no directory: give one, or leave the "
      + "field out")
  let logged = try parse(#"{"checkpoint": {"log_dir": "runs/tb"}}"#)
  #expect(logged.checkpoint.logDirectory == "runs/tb")
  #expect(try parse("{}").checkpoint.logDirectory == nil)
  // Where files go does not change a run; scenarios without the field keep their JSON.
  #expect(logged.hash == (try parse("{}").hash))
  #expect(try parse(#"{}"#, overrides: ["checkpoint.log_dir=\"a\""]).checkpoint.logDirectory == "a")
  #expect(!String(decoding: try parse("{}").canonicalJSON, as: UTF8.self).contains("log_dir"))
}
