import Checkpoints
import ExpertStreamCLI
import Foundation
import MoE
import TensorCore
import Testing
import _TestSupport

@Test(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
  ))
func continualRunsWriteATaskCheckpointAfterEveryTask() throws {
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("checkpoints")
  let metrics = directory.path("metrics.json")
  let result = runTool([
    "run", quickScenario, "--set", "checkpoint.directory=\(checkpoints)", "--metrics-json", metrics,
  ])
  #expect(result.status == 0, "\(result.error)")
  #expect(result.output.contains("task 2 (of 3)") && !result.output.contains("task 3"))
  let files = try FileManager.default.contentsOfDirectory(atPath: checkpoints).sorted()
  #expect(files == ["latest.h5", "task_000.h5", "task_001.h5", "task_002.h5"])
  let summary = try Checkpoint.summary(of: "\(checkpoints)/latest.h5")
  #expect(summary.tasks.count == 3 && summary.experts.count == 3)
  #expect(summary.experts.map(\.spawnedAtTask) == [0, 1, 2])
  #expect(summary.tasks[2].decomposition.count == 3)
  let first = try Checkpoint.summary(of: "\(checkpoints)/task_000.h5")
  #expect(first.tasks.count == 1 && first.experts.count == 1)

  let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metrics)))
  let record = try #require(root as? [String: Any])
  #expect(record["tasks"] as? [[Int]] == [[0, 1], [2, 3], [4, 5]])
  #expect((record["accuracy_matrix_class_il"] as? [[Double]])?.map(\.count) == [1, 2, 3])
  #expect((record["decompositions"] as? [[[Double]]])?.count == 3)
  #expect(record["scenario_hash"] as? String == summary.scenarioHash)

  let inspect = runTool(["inspect", "\(checkpoints)/latest.h5", "--task", "2"])
  #expect(inspect.status == 0)
  #expect(inspect.output.contains("after task 2") && inspect.output.contains("p(expert | class)"))
  #expect(!inspect.output.contains("after task 1"))
  let json = runTool(["inspect", "\(checkpoints)/latest.h5", "--json"])
  let parsed = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
  #expect((parsed?["experts"] as? [Any])?.count == 3)
  let beyond = runTool(["inspect", "\(checkpoints)/latest.h5", "--task", "3"])
  #expect(beyond.status == 2)
  #expect(beyond.error.contains("give a task from 0 to 2"), "\(beyond.error)")
}

@Test(
  .enabled(
    if: hasFashionMNIST && hasH5py,
    "needs python3 with h5py (pip install h5py) and the FashionMNIST package"))
func h5pyReadsEveryPartOfACheckpoint() throws {
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("checkpoints")
  #expect(
    runTool(["run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(checkpoints)"])
      .status == 0)
  let script = """
    import h5py, json, sys
    f = h5py.File(sys.argv[1], "r")
    assert f.attrs["format"] == "expertstream-checkpoint"
    scenario = json.loads(f.attrs["scenario"])
    assert scenario["split"]["groups"] == [[0, 1], [2, 3], [4, 5]]
    expert = f["model/experts/expert_001"]
    assert expert.attrs["spawned_at_task"] == 1 and expert.attrs["kind"] == "mlp"
    assert expert["output.weight"].shape == (10, 32)
    assert f["history/task_002/decomposition"].shape == (3, 10)
    assert f["metrics/accuracy_matrix_class_il"].shape == (3, 3)
    assert f["optimizer"].attrs["step"] > 0 and len(f["optimizer/m"]) > 0
    for name, expert in f["model/experts"].items():
        for key in ("kind", "frozen", "spawned_at_task", "frozen_at_task"):
            assert key in expert.attrs, (name, key)
        assert expert["features.layers.1.weight"].shape == (64, 784)
        assert expert["features.layers.3.weight"].shape == (32, 64)
        assert expert["output.weight"].shape == (10, 32)
    for task in range(3):
        history = f["history/task_%03d" % task]
        decomposition = history["decomposition"][()]
        seen = sorted(c for t in scenario["split"]["groups"][:task + 1] for c in t)
        columns = decomposition[:, seen].sum(axis=0)
        assert abs(columns - 1).max() < 1e-6, columns
        for key in ("usage_entropy_bits", "class_entropy_bits", "routing_forgetting"):
            assert key in history.attrs
    print("ok")
    """
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["python3", "-c", script, "\(checkpoints)/latest.h5"]
  let output = Pipe()
  process.standardOutput = output
  try process.run()
  process.waitUntilExit()
  #expect(process.terminationStatus == 0)
  #expect(
    String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "ok\n")
}

@Test func inspectRejectsFilesThatAreNotCheckpoints() throws {
  let directory = try TemporaryDirectory()
  let text = directory.path("notes.h5")
  try "hello".write(toFile: text, atomically: true, encoding: .utf8)
  let result = runTool(["inspect", text])
  #expect(result.status == 2)
  #expect(result.error.contains("\(text): /: not an HDF5 file"))
  let other = directory.path("other.h5")
  _ = try HDF5File.create(other).root.group("data")
  let foreign = runTool(["inspect", other])
  #expect(foreign.status == 2 && foreign.error.contains("not an ExpertStream checkpoint"))
}

@Test func everyPolicyRunsOnGeneratedSplitMNIST() throws {
  let directory = try TemporaryDirectory()
  let data = directory.path("mnist")
  try writeGeneratedMNIST(in: data, perClass: 12)
  let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../tasks/split-mnist.json").standardized.path
  let metrics = directory.path("metrics.json")
  let result = runTool([
    "run", tasks, "--data-dir", data, "--quiet", "--metrics-json", metrics,
    "--policy", "spawn-and-freeze,reuse-or-spawn,shared,fine-tune,ewc,replay,joint",
    "--set", "training.epochs=1", "--set", "training.batch_size=16",
    "--set", "checkpoint.directory=\(directory.path("checkpoints"))",
  ])
  #expect(result.status == 0, "\(result.error)")
  #expect(result.output.contains("Summary (accuracy in %"))
  let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metrics)))
  let runs = try #require((root as? [String: Any])?["runs"] as? [[String: Any]])
  #expect(
    runs.map { $0["policy"] as? String } == [
      "spawn-and-freeze", "reuse-or-spawn", "shared", "fine-tune", "ewc", "replay", "joint",
    ])
  #expect(runs.allSatisfy { ($0["accuracy_matrix_class_il"] as? [[Double]])?.count == 5 })
}

@Test(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
  ), arguments: ["spawn-and-freeze", "ewc"])
func aResumedRunEndsBitIdenticalToAnUninterruptedOne(policy: String) throws {
  let directory = try TemporaryDirectory()
  let full = directory.path("full")
  let cut = directory.path("cut")
  #expect(
    runTool([
      "run", quickScenario, "--quiet", "--policy", policy, "--set", "checkpoint.directory=\(full)",
    ]).status == 0)
  // Stop after the first task: keep only its checkpoint, as a crash would.
  try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: true)
  try FileManager.default.copyItem(atPath: "\(full)/task_000.h5", toPath: "\(cut)/latest.h5")
  let resumed = runTool([
    "run", quickScenario, "--resume", "--policy", policy, "--set", "checkpoint.directory=\(cut)",
  ])
  #expect(resumed.status == 0, "\(resumed.error)")
  #expect(resumed.output.contains("1 of 3 tasks done"))
  let expected = try datasets(in: HDF5File.open("\(full)/latest.h5").root)
  let actual = try datasets(in: HDF5File.open("\(cut)/latest.h5").root)
  #expect(expected.count > 50)
  #expect(Set(expected.keys) == Set(actual.keys))
  let differing = expected.keys.filter { actual[$0] != expected[$0] }
  #expect(differing.isEmpty, "\(differing.sorted())")
}

@Test(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
  ))
func resumingWithAnotherScenarioIsRefused() throws {
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("c")
  #expect(
    runTool(["run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(checkpoints)"])
      .status == 0)
  let result = runTool([
    "run", quickScenario, "--resume", "--set", "checkpoint.directory=\(checkpoints)",
    "--set", "training.seed=5",
  ])
  #expect(result.status == 2)
  #expect(result.error.contains("written by another scenario"))
  #expect(runTool(["run", quickScenario, "extra.h5"]).status == 2)
}

@Test(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
  ))
func checkpointLoadGivesBackARunThatContinuesWithNewExperts() throws {
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("c")
  #expect(
    runTool(["run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(checkpoints)"])
      .status == 0)
  let run = try Checkpoint.load("\(checkpoints)/task_001.h5")
  #expect(run.model.experts.count == 2)
  #expect(run.state.nextTask == 2 && run.state.reports.count == 2)
  #expect(run.model.isFrozen(expert: 0) && run.model.isFrozen(expert: 1))
  var generator = RandomGenerator(seed: 3)
  let extra = try FeatureExpert.multilayerPerceptron(
    inputCount: 784, hiddenWidths: [64, 32], classCount: 10, using: &generator)
  try run.model.addExpert(extra, using: &generator)
  let result = try run.run()
  #expect(result.reports.count == 3)
  // The user's expert is trained on the next task with the policy's own new expert.
  #expect(run.model.experts.count == 4)
  #expect(result.experts.map(\.spawnedAtTask) == [0, 1, 2, 2])
  #expect(result.experts.suffix(2).map(\.classes) == [[4, 5], [4, 5]])
}

@Test(
  .enabled(
    if: hasFashionMNIST && executable != nil,
    "needs the built expertstream executable beside the tests and the FashionMNIST package"))
func aRunKilledMidTaskResumesToIdenticalCheckpoints() throws {
  let directory = try TemporaryDirectory()
  let (killed, full) = (directory.path("killed"), directory.path("full"))
  let settings = ["--set", "training.epochs=40", "--quiet"]
  #expect(
    runTool(["run", quickScenario, "--set", "checkpoint.directory=\(full)"] + settings).status == 0)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable!)
  process.arguments = ["run", quickScenario, "--set", "checkpoint.directory=\(killed)"] + settings
  process.standardOutput = FileHandle.nullDevice
  try process.run()
  // Kill it with SIGKILL as soon as the first task's checkpoint exists: mid task 2.
  let deadline = Date().addingTimeInterval(120)
  while !FileManager.default.fileExists(atPath: "\(killed)/task_000.h5"), Date() < deadline,
    process.isRunning
  {
    usleep(2_000)
  }
  kill(process.processIdentifier, SIGKILL)
  process.waitUntilExit()
  #expect(process.terminationReason == .uncaughtSignal, "the run ended before it was killed")
  // Killed during task 2: no checkpoint of a later task exists (a temporary may remain).
  let left = try FileManager.default.contentsOfDirectory(atPath: killed)
  #expect(left.contains("task_000.h5") && !left.contains("task_001.h5"), "\(left)")
  let resumed = runTool(
    ["run", quickScenario, "--resume", "--set", "checkpoint.directory=\(killed)"] + settings)
  #expect(resumed.status == 0, "\(resumed.error)")
  let expected = try datasets(in: HDF5File.open("\(full)/latest.h5").root)
  let actual = try datasets(in: HDF5File.open("\(killed)/latest.h5").root)
  #expect(Set(expected.keys) == Set(actual.keys))
  #expect(expected.keys.filter { actual[$0] != expected[$0] }.isEmpty)
}

@Test(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
  ))
func checkpointsThatDoNotFitAreRefusedAndGoodOnesNeverOverwritten() throws {
  let directory = try TemporaryDirectory()
  let good = directory.path("good")
  #expect(
    runTool(["run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(good)"]).status == 0)

  // A dataset of the wrong shape: the file's contents no longer match its content_sha256,
  // so it is skipped, naming it; without the digest (as files of format_version 1), the
  // optimiser's buffer of that tensor no longer fits it, named by file and object path. Exit 2
  // either way.
  for keepingDigest in [true, false] {
    let bad = directory.path(keepingDigest ? "bad" : "bad-without-digest")
    try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: "\(good)/task_000.h5", toPath: "\(bad)/latest.h5")
    do {
      let file = try HDF5File.open("\(bad)/latest.h5", writable: true)
      if !keepingDigest {
        try file.root.removeAttribute("content_sha256")
        try file.root.setAttribute("format_version", 1)
      }
      let expert = try file.root.existingGroup("model").existingGroup("experts")
        .existingGroup("expert_000")
      try expert.remove("output.weight")
      try expert.write("output.weight", floats: [Float](repeating: 0, count: 30), shape: [10, 3])
    }
    let shape = runTool(["run", quickScenario, "--resume", "--set", "checkpoint.directory=\(bad)"])
    #expect(shape.status == 2)
    #expect(
      (shape.output + shape.error).contains(
        keepingDigest
          ? "\(bad)/latest.h5: /: checksum mismatch: the file's contents do not match "
            + "content_sha256 (the file was changed after it was written, or is damaged)"
          : "\(bad)/latest.h5: /optimizer/m/experts.0.output.weight: has shape [320], "
            + "expected [30] (the tensor's [10, 3], flattened)"),
      "\(shape.output)\n\(shape.error)")
  }

  // A directory where a checkpoint file is expected.
  let folder = runTool(["inspect", good])
  #expect(folder.status == 2 && folder.error.contains("\(good): /: is a directory"))

  // A checkpoint directory that cannot be created: a clear error, exit ≠ 0.
  let blocked = directory.path("file")
  try "x".write(toFile: blocked, atomically: true, encoding: .utf8)
  let unwritable = runTool([
    "run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(blocked)/sub",
  ])
  #expect(unwritable.status != 0)
  #expect(unwritable.error.contains("\(blocked)/sub"))

  // A write that fails leaves the existing good checkpoint untouched.
  let before = try Data(contentsOf: URL(fileURLWithPath: "\(good)/latest.h5"))
  let temporary = "\(good)/.latest.h5.partial-\(ProcessInfo.processInfo.processIdentifier)"
  try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
  let failing = runTool([
    "run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(good)", "--set",
    "checkpoint.every_task=false",
  ])
  #expect(failing.status != 0)
  #expect(try Data(contentsOf: URL(fileURLWithPath: "\(good)/latest.h5")) == before)
}
