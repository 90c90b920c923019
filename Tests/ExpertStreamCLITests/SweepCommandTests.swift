import Checkpoints
import ExpertStreamCLI
import Foundation
import Sweeps
import Testing
import _TestSupport

/// `tasks/sweep-quick.json`: 2 policies × 2 seeds of quick.json.
private let quickSweep = "\(repositoryRoot)/tasks/sweep-quick.json"

/// Open MPI's launcher, when installed.
private let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
  FileManager.default.isExecutableFile(atPath: $0)
}

/// `results.jsonl` without the timings (`seconds`, `timing`): what must be identical
/// between any two sweeps of the same grid.
private func results(in directory: String) throws -> [String] {
  let text = try String(contentsOfFile: "\(directory)/results.jsonl", encoding: .utf8)
  return try text.split(separator: "\n").map { line in
    var record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    record["seconds"] = nil
    record["timing"] = nil
    let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
  }
}

/// Runs the built `expertstream` (optionally under mpirun) and returns its exit status and
/// output.
private func spawn(_ arguments: [String], underMPI ranks: Int? = nil) throws -> (
  status: Int32, output: String
) {
  let environment: [String: String?] = [
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
  ]
  guard let ranks else { return try runProgram(executable!, arguments, environment: environment) }
  return try runProgram(
    mpirun!, ["-np", "\(ranks)", "--oversubscribe", executable!] + arguments,
    environment: environment)
}

@Suite(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"),
  .serialized)
struct SweepCommandTests {
  @Test(
    .enabled(if: mpirun != nil && executable != nil, "needs openmpi-bin and the built binary"))
  func oneProcessAndTwoMPIRanksGiveBitIdenticalMetrics() throws {
    let directory = try TemporaryDirectory()
    let single = runTool(["sweep", quickSweep, "--out", directory.path("one"), "--quiet"])
    #expect(single.status == 0, "\(single.error)")
    let ranks = try spawn(
      ["sweep", quickSweep, "--out", directory.path("two")], underMPI: 2)
    #expect(ranks.status == 0, "\(ranks.output)")
    // Both ranks trained runs.
    #expect(ranks.output.contains("[rank 0] run"))
    #expect(ranks.output.contains("[rank 1] run"))
    let expected = try results(in: directory.path("one"))
    #expect(expected.count == 4)
    #expect(expected.allSatisfy { $0.contains(#""status":"finished""#) })
    #expect(try results(in: directory.path("two")) == expected)
    let summary = try String(
      contentsOfFile: directory.path("one") + "/summary.md", encoding: .utf8)
    #expect(summary.contains("spawn-and-freeze") && summary.contains("±"))
    let svg = try String(
      contentsOfFile: directory.path("one") + "/main_metric.svg", encoding: .utf8)
    #expect(parseXML(svg).error == nil)
  }

  @Test(.enabled(if: executable != nil, "needs the built binary"))
  func aKilledSweepResumesToTheSameResults() throws {
    let directory = try TemporaryDirectory()
    // quick.json with more epochs, so the kill lands inside a run.
    let sweep = directory.path("sweep.json")
    try """
    {"name": "slow", "scenario": "\(repositoryRoot)/tasks/quick.json",
     "set": {"training.epochs": 6}, "axes": {"policy": ["spawn-and-freeze", "shared"], "seed": [0, 1]}}
    """.write(toFile: sweep, atomically: true, encoding: .utf8)
    let reference = runTool(["sweep", sweep, "--out", directory.path("reference"), "--quiet"])
    #expect(reference.status == 0, "\(reference.error)")

    let output = directory.path("killed")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable!)
    process.arguments = ["sweep", sweep, "--out", output, "--quiet"]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    // Kill as soon as one run has finished and another has a task checkpoint but no result.
    let runs = "\(output)/runs"
    var interrupted = false
    let deadline = Date().addingTimeInterval(120)
    while process.isRunning && Date() < deadline {
      let directories = (try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []
      let hasRecord = { (id: String) in
        FileManager.default.fileExists(atPath: "\(output)/records/\(id).json")
      }
      let finished = directories.filter(hasRecord)
      let midway = directories.filter {
        FileManager.default.fileExists(atPath: "\(runs)/\($0)/task_000.h5") && !hasRecord($0)
      }
      if !finished.isEmpty && !midway.isEmpty {
        kill(process.processIdentifier, SIGKILL)
        interrupted = true
        break
      }
      usleep(5_000)
    }
    process.waitUntilExit()
    #expect(interrupted, "the sweep finished before it could be killed midway")
    let partial = (try? results(in: output)) ?? []
    #expect(partial.count < 4)

    let restarted = runTool(["sweep", sweep, "--out", output])
    #expect(restarted.status == 0, "\(restarted.error)")
    #expect(restarted.output.contains("already finished"))
    #expect(restarted.output.contains("resuming"))
    #expect(try results(in: output) == results(in: directory.path("reference")))
  }

  @Test func aFailedRunIsRecordedAndTheSweepGoesOn() throws {
    let directory = try TemporaryDirectory()
    let output = directory.path("out")
    let plan = try SweepPlan.load(quickSweep)
    // A file where the second run's directory should be: that run cannot write.
    try FileManager.default.createDirectory(
      atPath: "\(output)/runs", withIntermediateDirectories: true)
    let blocked = "\(output)/runs/\(plan.runs[1].id)"
    try Data().write(to: URL(fileURLWithPath: blocked))
    let result = runTool(["sweep", quickSweep, "--out", output])
    #expect(result.status == 1, "\(result.error)")
    #expect(result.output.contains("1 run(s) failed"))
    #expect(
      result.error == """
        error: 1 of 4 runs failed: \(plan.runs[1].id) (their errors are in \(output)/results.jsonl)
        hint: fix the cause and run the sweep again; it retries only the runs that did not finish

        """)
    var lines = try results(in: output)
    #expect(lines.count == 4)
    #expect(
      lines[1].contains(#""status":"failed""#)
        && lines[1].contains(": cannot create the directory: Not a directory\""))
    #expect(lines.filter { $0.contains(#""status":"finished""#) }.count == 3)
    // A second sweep skips the finished runs and retries the failed one.
    try FileManager.default.removeItem(atPath: blocked)
    let retried = runTool(["sweep", quickSweep, "--out", output])
    #expect(retried.status == 0)
    #expect(retried.output.contains("3 already finished"))
    lines = try results(in: output)
    #expect(lines.count == 4)
    #expect(lines.allSatisfy { $0.contains(#""status":"finished""#) })
  }

  @Test func paperRunsWriteTheirTrainedModelAndTheBestOfNRule() throws {
    let directory = try TemporaryDirectory()
    let sweep = directory.path("paper.json")
    try """
    {"scenario": "\(repositoryRoot)/tasks/paper-fashion-mnist.json",
     "set": {"training.epochs": 1, "training.batch_size": 64, "paper.distillation_epochs": 1,
             "dataset.train_samples_per_class": 60, "dataset.test_samples_per_class": 20},
     "axes": {"method": ["attentive", "distilled"], "seed": 2}}
    """.write(toFile: sweep, atomically: true, encoding: .utf8)
    let output = directory.path("out")
    let result = runTool(["sweep", sweep, "--out", output, "--quiet"])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("The paper's rule"))
    let plan = try SweepPlan.load(sweep)
    for run in plan.runs {
      let model = try HDF5File.open("\(output)/runs/\(run.id)/model.h5")
      #expect(try model.root.stringAttribute("method") == run.variant)
      #expect(try model.root.stringAttribute("dataset") == "fashion-mnist")
      #expect(try model.root.integerAttribute("stored_samples") == 0)
      #expect(try model.root.existingGroup("state").memberNames().count > 20)
    }
  }

  @Test(
    .enabled(
      if: FileManager.default.fileExists(atPath: "\(repositoryRoot)/../shared/datasets/mnist"),
      "needs the real MNIST in ../shared/datasets/mnist beside the repository"))
  func aSweepOfTwoDatasetsReadsFromDataDirTheOneItHolds() throws {
    let directory = try TemporaryDirectory()
    let sweep = directory.path("two-datasets.json")
    try """
    {"scenario": "\(repositoryRoot)/tasks/quick.json",
     "set": {"dataset.train_samples_per_class": 20, "dataset.test_samples_per_class": 10},
     "axes": {"dataset.name": ["mnist", "fashion-mnist"], "seed": 1}}
    """.write(toFile: sweep, atomically: true, encoding: .utf8)
    let mnist = "\(repositoryRoot)/../shared/datasets/mnist"
    let output = directory.path("out")
    let result = runTool(["sweep", sweep, "--out", output, "--data-dir", mnist, "--quiet"])
    #expect(result.status == 0, "\(result.error)")
    let datasets = try results(in: output).map { line in
      let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      return (record["metrics"] as? [String: Any])?["dataset"] as? String
    }
    #expect(datasets == ["mnist", "fashion-mnist"])
    // A directory holding neither dataset is still an error for every run.
    let empty = directory.path("empty")
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    let refused = runTool(["sweep", sweep, "--out", directory.path("none"), "--data-dir", empty])
    #expect(refused.status != 0)
    #expect(
      refused.output.contains("holds no mnist files")
        || refused.error.contains("holds no mnist files"))
  }

  @Test func aSecondSweepOnTheSameDirectoryIsRefused() throws {
    let directory = try TemporaryDirectory()
    let output = directory.path("out")
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    let descriptor = open("\(output)/.lock", O_RDWR | O_CREAT, 0o644)
    defer { close(descriptor) }
    #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
    let result = runTool(["sweep", quickSweep, "--out", output])
    #expect(result.status == 2)
    #expect(result.error.contains(output) && result.error.contains("another sweep"))
    #expect(!FileManager.default.fileExists(atPath: "\(output)/results.jsonl"))
  }
}

@Test func aBadSweepFileExitsTwoNamingTheFieldAndStartsNothing() throws {
  let directory = try TemporaryDirectory()
  let sweep = directory.path("bad.json")
  try """
  {"scenario": "\(repositoryRoot)/tasks/quick.json", "axes": {"training.epoch": [1, 2]}}
  """.write(toFile: sweep, atomically: true, encoding: .utf8)
  let output = directory.path("out")
  let result = runTool(["sweep", sweep, "--out", output])
  #expect(result.status == 2)
  #expect(result.error.contains("bad.json") && result.error.contains("axes.training.epoch"))
  #expect(!FileManager.default.fileExists(atPath: output))
}

@Test func dryRunListsTheRunsWithTheirIds() throws {
  let plan = try SweepPlan.load(quickSweep)
  let result = runTool(["sweep", quickSweep, "--dry-run"])
  #expect(result.status == 0)
  #expect(plan.runs.allSatisfy { result.output.contains($0.id) })
  #expect(result.output.contains("4 runs"))
}
