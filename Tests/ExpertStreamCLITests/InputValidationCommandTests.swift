import ExpertStreamCLI
import Foundation
import Testing
import _TestSupport

private let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../../tasks").standardized.path

@Test func aModelTooLargeForTheMachineFailsCheckAndRunAlike() throws {
  let directory = try TemporaryDirectory()
  let metrics = directory.path("metrics.json")
  let overrides = ["--set", "model.hidden=[65536,65536]"]
  for command in [
    ["scenario", "check", "\(tasks)/quick.json"] + overrides,
    ["run", "\(tasks)/quick.json", "--metrics-json", metrics] + overrides,
  ] {
    let result = runTool(command)
    #expect(result.status == 2)
    #expect(result.error.contains("\(tasks)/quick.json: model: the model needs about "))
    #expect(result.error.contains("more than this machine's"))
  }
  #expect(!FileManager.default.fileExists(atPath: metrics))
}

@Test func aPaperRunWithNoMethodsIsAnErrorAndWritesNothing() throws {
  let directory = try TemporaryDirectory()
  let metrics = directory.path("metrics.json")
  let result = runTool([
    "run", "\(tasks)/paper-fashion-mnist.json", "--set", "paper.methods=[]", "--metrics-json",
    metrics,
  ])
  #expect(result.status == 2)
  #expect(
    result.error.contains(
      "\(tasks)/paper-fashion-mnist.json: paper.methods: needs at least one method; one of "))
  #expect(!result.output.contains("metrics written"))
  #expect(!FileManager.default.fileExists(atPath: metrics))
}

@Test func aScenarioWithADuplicateKeyFailsWithBothLines() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("twice.json")
  try "{\n  \"name\": \"twice\",\n  \"name\": \"again\"\n}".write(
    toFile: path, atomically: true, encoding: .utf8)
  let result = runTool(["scenario", "check", path])
  #expect(result.status == 2)
  #expect(
    result.error.contains(
      "\(path):3:3: name: duplicate key 'name' (first at line 2, again at line 3); keep one"))
}

@Test func flagsForTheOtherKindOfScenarioAreRefused() throws {
  let paper = "\(repositoryRoot)/tasks/paper-fashion-mnist.json"
  let policy = runTool(["run", paper, "--policy", "spawn-and-freeze"])
  #expect(policy.status == 2)
  #expect(
    policy.error.hasPrefix(
      "error: \(paper) is a paper scenario (mode: paper): --policy applies to continual "
        + "scenarios only"))
  let resume = runTool(["run", paper, "--resume"])
  #expect(resume.status == 2 && resume.error.contains("--resume applies to continual"))
  let logDirectory = runTool(["run", paper, "--log-dir", "/tmp/unused"])
  #expect(
    logDirectory.status == 2 && logDirectory.error.contains("--log-dir applies to continual"))
  let method = runTool(["run", quickScenario, "--method", "original"])
  #expect(method.status == 2)
  #expect(
    method.error.hasPrefix(
      "error: \(quickScenario) is a continual scenario: --method applies to paper scenarios "
        + "(mode: paper) only"))
}
