import Foundation
import Sweeps
import Testing
import _TestSupport

/// A scenario and a sweep over it in a temporary directory.
private func writeSweep(_ sweep: String, scenario: String? = nil) throws -> (
  TemporaryDirectory, String
) {
  let directory = try TemporaryDirectory()
  let scenarioText =
    scenario ?? """
      {"name": "tiny", "dataset": {"name": "fashion-mnist"},
       "split": {"tasks": 2, "classes_per_task": 2},
       "model": {"expert": "mlp", "experts": 1, "hidden": [8, 4]},
       "lifecycle": {"policy": "spawn-and-freeze"}}
      """
  try scenarioText.write(toFile: directory.path("tiny.json"), atomically: true, encoding: .utf8)
  let path = directory.path("sweep.json")
  try sweep.write(toFile: path, atomically: true, encoding: .utf8)
  return (directory, path)
}

@Test func theGridIsTheProductOfTheAxesWithStableIds() throws {
  let (directory, path) = try writeSweep(
    """
    {"scenario": "tiny.json", "set": {"training.epochs": 2},
     "axes": {"seed": [3, 4], "policy": ["shared", "spawn-and-freeze"],
              "training.optimizer.learning_rate": [0.001, 0.01]}}
    """)
  _ = directory
  let plan = try SweepPlan.load(path)
  #expect(plan.name == "sweep")
  #expect(plan.runs.count == 8)
  #expect(
    plan.runs.map(\.variant) == Array(repeating: "shared", count: 4)
      + Array(repeating: "spawn-and-freeze", count: 4))
  #expect(plan.runs.map(\.seed) == [3, 4, 3, 4, 3, 4, 3, 4])
  #expect(Set(plan.runs.map(\.id)).count == 8)
  #expect(plan.runs[0].id.hasPrefix("shared_seed3_training.optimizer.learning_rate=0.001_"))
  #expect(plan.runs[0].overrides.contains("training.epochs=2"))
  // Ids depend on settings, not on the position: the same run in a smaller grid keeps its id.
  let (other, smaller) = try writeSweep(
    """
    {"scenario": "tiny.json", "set": {"training.epochs": 2},
     "axes": {"seed": [4], "policy": ["spawn-and-freeze"],
              "training.optimizer.learning_rate": [0.01]}}
    """)
  _ = other
  let single = try SweepPlan.load(smaller)
  #expect(single.runs.count == 1)
  #expect(single.runs[0].id == plan.runs[7].id)
  #expect(single.runs[0].index == 0)
}

@Test func aSeedCountCountsFromTheScenarioSeed() throws {
  let (directory, path) = try writeSweep(
    #"{"scenario": "tiny.json", "set": {"training.seed": 10}, "axes": {"seed": 3}}"#)
  _ = directory
  #expect(try SweepPlan.load(path).runs.map(\.seed) == [10, 11, 12])
}

@Test(arguments: [
  (#"{"scenario": "tiny.json", "axis": {}}"#, "axis", "unknown field"),
  (
    #"{"scenario": "tiny.json", "axes": {"training.epoch": [1, 2]}}"#, "axes.training.epoch",
    "epoch"
  ),
  (
    #"{"scenario": "tiny.json", "axes": {"training.epochs": ["two"]}}"#, "axes.training.epochs",
    "two"
  ),
  (#"{"scenario": "tiny.json", "axes": {"seed": []}}"#, "axes.seed", "empty"),
  (#"{"scenario": "tiny.json", "axes": {"training.epochs": 3}}"#, "axes.training.epochs", "list"),
  (#"{"scenario": "tiny.json", "axes": {"seed": [1, 1]}}"#, "axes", "duplicate run id"),
  (#"{"scenario": "tiny.json", "axes": {"method": ["attentive"]}}"#, "axes.method", "policy"),
  (#"{"scenario": "tiny.json", "axes": {"policy": ["sharde"]}}"#, "axes.policy[0]", "sharde"),
  (#"{"scenario": "missing.json"}"#, "scenario", "no such file"),
  (#"{"axes": {}}"#, "scenario", "path"),
  ("[1, 2]", "", "object"),
])
func badSweepFilesNameTheFileAndField(sweep: String, field: String, message: String) throws {
  let (directory, path) = try writeSweep(sweep)
  _ = directory
  #expect {
    try SweepPlan.load(path)
  } throws: { error in
    guard case .invalid(let file, let reportedField, let text)? = error as? SweepError else {
      return false
    }
    return file == path && reportedField == field && "\(error)".contains(message)
      && text.count > 0
  }
}

@Test func sweepFilesThatAreNotStrictJSONGiveLineAndColumn() throws {
  let (duplicateDirectory, duplicate) = try writeSweep(
    "{\"scenario\": \"tiny.json\",\n \"scenario\": \"other.json\"}")
  _ = duplicateDirectory
  #expect(
    errorText { _ = try SweepPlan.load(duplicate) }
      == "\(duplicate):2:2: scenario: duplicate key 'scenario' (first at line 1, again at line 2); "
      + "keep one")
  let (syntaxDirectory, syntax) = try writeSweep("{\"scenario\": \"tiny.json\",\n  \"axes\" {}}")
  _ = syntaxDirectory
  #expect(
    errorText { _ = try SweepPlan.load(syntax) }
      == "\(syntax):2:10: not valid JSON: expected ':' after the key 'axes', found '{'")
}

/// The text of the error `body` throws, or "no error".
private func errorText(_ body: () throws -> Void) -> String {
  do {
    try body()
    return "no error"
  } catch {
    return "\(error)"
  }
}

@Test func theShippedSweepsAreValid() throws {
  let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../tasks").standardized.path
  let sweeps = try FileManager.default.contentsOfDirectory(atPath: tasks).filter {
    $0.hasSuffix(".json") && isSweepFile("\(tasks)/\($0)")
  }
  #expect(sweeps.count >= 3)
  let counts = try Dictionary(
    uniqueKeysWithValues: sweeps.map { ($0, try SweepPlan.load("\(tasks)/\($0)").runs.count) })
  #expect(counts["sweep-quick.json"] == 4)
  #expect(counts["sweep-paper-fashion-mnist.json"] == 80)
  #expect(counts["split-fashion-mnist-vs-avalanche.json"] == 15)
}

@Test func namedVariantsAreCrossedWithTheAxesAndRunTheirOwnPolicy() throws {
  let (directory, path) = try writeSweep(
    """
    {"scenario": "tiny.json",
     "variants": {"moe": {"lifecycle.gate": "replay"},
                  "baseline": {"lifecycle.policy": "replay", "lifecycle.replay_samples": 10}},
     "axes": {"seed": 2}}
    """)
  _ = directory
  let plan = try SweepPlan.load(path)
  #expect(plan.runs.map(\.configuration) == ["baseline", "baseline", "moe", "moe"])
  #expect(plan.runs.map(\.variant) == ["replay", "replay", "spawn-and-freeze", "spawn-and-freeze"])
  #expect(plan.runs[0].id.hasPrefix("baseline_replay_seed0_"))
  #expect(plan.runs[0].overrides.contains("lifecycle.replay_samples=10"))
  #expect(plan.runs[0].group == "baseline, replay")
  #expect(plan.runs[2].settings["configuration"] as? String == "moe")
}

@Test func aBadVariantNamesItsField() throws {
  for (variants, field) in [
    (#"{"moe": {"lifecycle.gate": "sometimes"}}"#, "variants.moe"),
    (#"{"moe": 3}"#, "variants.moe"),
    (#"[1]"#, "variants"),
  ] {
    let (directory, path) = try writeSweep(
      #"{"scenario": "tiny.json", "variants": \#(variants)}"#)
    _ = directory
    #expect {
      try SweepPlan.load(path)
    } throws: { error in
      guard case .invalid(_, let reported, _) = error as? SweepError else { return false }
      return reported == field
    }
  }
}

@Test func aSeedBeyondTheScenarioRangeNamesTheRun() throws {
  let (directory, path) = try writeSweep(
    #"{"scenario": "tiny.json", "axes": {"seed": [1, 3000000000]}}"#)
  _ = directory
  #expect {
    try SweepPlan.load(path)
  } throws: { error in
    guard case .invalid(_, let field, let message)? = error as? SweepError else { return false }
    return field == "axes"
      && message == "\(directory.path("tiny.json")): training.seed: 3000000000 is out of range "
        + "0...2147483647 (run spawn-and-freeze, seed 3000000000)"
  }
}
