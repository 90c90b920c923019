import Checkpoints
import ExpertStreamCLI
import Foundation
import Sweeps
import Testing
import _TestSupport

/// split-mnist on generated images (12 per class): five tasks that train in about a second.
private final class GeneratedSplitMNIST {
  let directory: TemporaryDirectory
  let scenario = "\(repositoryRoot)/tasks/split-mnist.json"

  init() throws {
    directory = try TemporaryDirectory()
    try writeGeneratedMNIST(in: directory.path("mnist"), perClass: 12)
  }

  /// `run` of the scenario into `checkpoints`, one epoch of batches of 16.
  func run(into checkpoints: String, _ extra: [String] = []) -> [String] {
    [
      "run", scenario, "--data-dir", directory.path("mnist"), "--set", "training.epochs=1",
      "--set", "training.batch_size=16", "--set", "checkpoint.directory=\(checkpoints)",
    ] + extra
  }
}

/// Runs the tool in-process with a console that shows each output line to `watch` and
/// reports its output closed once `closed` returns true.
private func runTool(
  _ arguments: [String], watch: @escaping (String) -> Void, closed: @escaping () -> Bool
) -> (status: Int32, output: String, error: String) {
  final class Capture: @unchecked Sendable {
    var output = ""
    var error = ""
  }
  let capture = Capture()
  let console = Console(
    output: {
      capture.output += $0
      watch($0)
    }, error: { capture.error += $0 }, isOutputClosed: closed)
  let status = ExpertStreamTool.main(arguments, console: console)
  return (status, capture.output, capture.error)
}

/// The hint of every checkpoint directory that cannot be used.
private let directoryHint =
  "hint: choose another checkpoint directory: --set checkpoint.directory=DIR"

@Test func aReadOnlyCheckpointDirectoryFailsBeforeTraining() throws {
  let data = try GeneratedSplitMNIST()
  let readOnly = try #require(ReadOnlyDirectory(), "cannot make a read-only directory")
  let result = runTool(data.run(into: readOnly.path, ["--quiet"]))
  #expect(result.status == 2)
  let reason = getuid() == 0 ? "Read-only file system" : "Permission denied"
  #expect(
    result.error == """
      error: \(readOnly.path): cannot write files here (cannot create the file, checked with a \
      probe file): \(reason)
      \(directoryHint)

      """)
  #expect(result.output.isEmpty)
}

@Test func aCheckpointDirectoryThroughAFileOrWithTooLongANameFailsBeforeTraining() throws {
  let data = try GeneratedSplitMNIST()
  let file = data.directory.path("file")
  try Data().write(to: URL(fileURLWithPath: file))
  let throughFile = runTool(data.run(into: "\(file)/checkpoints"))
  #expect(throughFile.status == 2)
  #expect(
    throughFile.error
      == "error: \(file)/checkpoints: cannot create the directory: Not a directory\n"
      + directoryHint + "\n")
  #expect(!throughFile.output.contains("task 0 (of 5)"))
  let long = data.directory.path(String(repeating: "n", count: 300))
  let tooLong = runTool(data.run(into: long))
  #expect(tooLong.status == 2)
  #expect(
    tooLong.error == "error: \(long): cannot create the directory: File name too long\n"
      + directoryHint + "\n")
  #expect(!tooLong.output.contains("task 0 (of 5)"))
}

@Test func aSecondRunIntoTheSameCheckpointDirectoryIsRefused() throws {
  let data = try GeneratedSplitMNIST()
  let checkpoints = data.directory.path("checkpoints")
  try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
  var held: DirectoryLock? = try DirectoryLock("\(checkpoints)/.lock")
  let result = runTool(data.run(into: checkpoints))
  #expect(result.status == 2)
  #expect(
    result.error == """
      error: \(checkpoints): another run is writing checkpoints here (process \(getpid()) on \
      \(ProcessInfo.processInfo.hostName))
      hint: wait for it to finish, or choose another checkpoint directory: --set \
      checkpoint.directory=DIR

      """)
  #expect(!result.output.contains("task 0 (of 5)"))
  #expect(try FileManager.default.contentsOfDirectory(atPath: checkpoints) == [".lock"])
  #expect(held != nil)
  held = nil
  // Released: the next run goes ahead and leaves no lock file behind.
  #expect(runTool(data.run(into: checkpoints, ["--quiet"])).status == 0)
  #expect(!FileManager.default.fileExists(atPath: "\(checkpoints)/.lock"))
}

@Test func temporariesOfDeadProcessesAreRemovedAtTheStart() throws {
  let data = try GeneratedSplitMNIST()
  let checkpoints = data.directory.path("checkpoints")
  try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
  // A process that has ended, and one that runs (init).
  let ended = Process()
  ended.executableURL = URL(fileURLWithPath: "/bin/true")
  try ended.run()
  ended.waitUntilExit()
  let dead = ".latest.h5.partial-\(ended.processIdentifier)"
  let live = ".task_000.h5.partial-1"
  for name in [dead, live] {
    try Data("x".utf8).write(to: URL(fileURLWithPath: "\(checkpoints)/\(name)"))
  }
  let result = runTool(data.run(into: checkpoints))
  #expect(result.status == 0, "\(result.error)")
  #expect(
    result.output.contains(
      "note: removed \(checkpoints)/\(dead), left by a process that no longer runs\n"))
  #expect(!result.output.contains(live))
  let left = try FileManager.default.contentsOfDirectory(atPath: checkpoints).sorted()
  #expect(left == [live, "latest.h5"] + (0..<5).map { String(format: "task_%03d.h5", $0) })
}

@Test func resumeTakesTheCheckpointWithTheMostFinishedTasks() throws {
  let data = try GeneratedSplitMNIST()
  let full = data.directory.path("full")
  #expect(runTool(data.run(into: full, ["--quiet"])).status == 0)
  // As after a crash: an older latest.h5 (newest by time), a newer task file and a damaged one.
  let cut = data.directory.path("cut")
  try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: true)
  try FileManager.default.copyItem(atPath: "\(full)/task_002.h5", toPath: "\(cut)/task_002.h5")
  try FileManager.default.copyItem(atPath: "\(full)/task_000.h5", toPath: "\(cut)/latest.h5")
  try Data("damaged".utf8).write(to: URL(fileURLWithPath: "\(cut)/task_003.h5"))
  let resumed = runTool(data.run(into: cut, ["--resume"]))
  #expect(resumed.status == 0, "\(resumed.error)")
  #expect(
    resumed.output.contains(
      "note: skipped \(cut)/task_003.h5, not a readable checkpoint: \(cut)/task_003.h5: /: "
        + "not an HDF5 file\n"))
  #expect(resumed.output.contains("resuming from \(cut)/task_002.h5: 3 of 5 tasks done\n"))
  #expect(!resumed.output.contains("task 0 (of 5)") && resumed.output.contains("task 3 (of 5)"))
  #expect(try Checkpoint.summary(of: "\(cut)/latest.h5").tasks.count == 5)
}

@Test func resumeBringsABehindLatestUpToTheLastTaskFileEvenWithNothingLeftToTrain() throws {
  let data = try GeneratedSplitMNIST()
  let full = data.directory.path("full")
  #expect(runTool(data.run(into: full, ["--quiet"])).status == 0)
  // As after a kill between the last task's file and latest.h5.
  let cut = data.directory.path("cut")
  try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: true)
  for task in 0..<5 {
    let name = String(format: "task_%03d.h5", task)
    try FileManager.default.copyItem(atPath: "\(full)/\(name)", toPath: "\(cut)/\(name)")
  }
  try FileManager.default.copyItem(atPath: "\(full)/task_003.h5", toPath: "\(cut)/latest.h5")
  let resumed = runTool(data.run(into: cut, ["--resume", "--quiet"]))
  #expect(resumed.status == 0, "\(resumed.error)")
  #expect(try Checkpoint.summary(of: "\(cut)/latest.h5").tasks.count == 5)
  let expected = try datasets(in: HDF5File.open("\(full)/latest.h5").root)
  #expect(try datasets(in: HDF5File.open("\(cut)/latest.h5").root) == expected)
}

@Test func resumeWithoutACheckpointSaysSoAndHowToStart() throws {
  let data = try GeneratedSplitMNIST()
  let empty = data.directory.path("empty")
  let result = runTool(data.run(into: empty, ["--resume"]))
  #expect(result.status == 2)
  #expect(
    result.error == """
      error: there is no checkpoint in \(empty) to resume from
      hint: drop --resume to start from the first task

      """)
}

@Test func aCheckpointThatCannotBeWrittenStopsTheRunAtThatTask() throws {
  let data = try GeneratedSplitMNIST()
  let checkpoints = data.directory.path("checkpoints")
  let moved = data.directory.path("moved")
  // When task 1 starts, the checkpoint directory is moved away and a file takes its place.
  let result = runTool(
    data.run(into: checkpoints),
    watch: { line in
      guard line.hasPrefix("task 1 (of 5)") else { return }
      _ = rename(checkpoints, moved)
      _ = FileManager.default.createFile(atPath: checkpoints, contents: Data())
    }, closed: { false })
  #expect(result.status == 1)
  #expect(
    result.error == """
      error: \(checkpoints): /: cannot create the directory: Not a directory
      the run stopped after task 1 (of 5), whose checkpoint could not be written
      hint: make room in \(checkpoints) (or fix it), then run again with --resume to continue \
      from its newest complete checkpoint

      """)
  #expect(result.output.contains("task 1 (of 5)") && !result.output.contains("task 2 (of 5)"))
  // The run's lock file moved with the directory.
  #expect(
    try FileManager.default.contentsOfDirectory(atPath: moved).sorted() == [
      ".lock", "latest.h5", "task_000.h5",
    ])
}

@Test func closedOutputStopsTheRunAfterTheTaskCheckpoint() throws {
  let data = try GeneratedSplitMNIST()
  let checkpoints = data.directory.path("checkpoints")
  var closed = false
  let result = runTool(
    data.run(into: checkpoints),
    watch: { line in if line.hasPrefix("  accuracy (%) on tasks 0…1") { closed = true } },
    closed: { closed })
  #expect(result.status == 1)
  #expect(
    result.error == """
      error: standard output was closed (broken pipe); the run stopped after 2 of 5 tasks; their \
      checkpoints in \(checkpoints) are complete (continue with --resume)

      """)
  #expect(!result.output.contains("task 2 (of 5)"))
  #expect(try Checkpoint.summary(of: "\(checkpoints)/latest.h5").tasks.count == 2)
}

/// Starts the built `expertstream` with `arguments`, standard output and error to pipes.
private func start(_ arguments: [String]) throws -> (process: Process, output: Pipe, error: Pipe) {
  let process = Process()
  process.executableURL = URL(
    fileURLWithPath: try #require(executable, "needs the expertstream executable (swift build)"))
  process.arguments = arguments
  let (output, error) = (Pipe(), Pipe())
  process.standardOutput = output
  process.standardError = error
  try process.run()
  return (process, output, error)
}

@Test func aFullDiskStopsTheRunAtItsFirstCheckpointAndTheProcessExitsCleanly() throws {
  let data = try GeneratedSplitMNIST()
  let disk = try #require(SmallFileSystem(kilobytes: 16), "cannot mount a tmpfs: run as root")
  let checkpoints = "\(disk.path)/checkpoints"
  let (process, output, error) = try start(data.run(into: checkpoints))
  let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  let errors = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  // An exit, not a crash in HDF5's close.
  #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(errors)")
  #expect(
    errors == """
      error: \(checkpoints)/task_000.h5: /: cannot write the file: No space left on device
      the run stopped after task 0 (of 5), whose checkpoint could not be written
      hint: make room in \(checkpoints) (or fix it), then run again

      """)
  #expect(printed.contains("task 0 (of 5)") && !printed.contains("task 1 (of 5)"))
  #expect(try FileManager.default.contentsOfDirectory(atPath: checkpoints).isEmpty)
}

@Test func aRunPipedIntoHeadStopsCleanlyWithCompleteCheckpoints() throws {
  let data = try GeneratedSplitMNIST()
  let checkpoints = data.directory.path("checkpoints")
  let (process, output, error) = try start(
    data.run(into: checkpoints, ["--set", "training.epochs=10"]))
  // Like `head -1`: read the first line, then go away.
  var first = Data()
  while !first.contains(UInt8(ascii: "\n")) {
    let chunk = output.fileHandleForReading.availableData
    if chunk.isEmpty { break }
    first.append(chunk)
  }
  try output.fileHandleForReading.close()
  let errors = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  #expect(String(decoding: first, as: UTF8.self).hasPrefix("split-mnist: policy"))
  #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(errors)")
  #expect(errors.hasPrefix("error: standard output was closed (broken pipe); the run stopped"))
  #expect(errors.split(separator: "\n").count == 1, "\(errors)")
  let files = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? []
  #expect(!files.contains { $0.contains(".partial-") || $0 == ".lock" }, "\(files)")
  for file in files { _ = try Checkpoint.summary(of: "\(checkpoints)/\(file)") }
}

@Test func closedOutputStopsAPaperComparisonAfterTheRunInProgress() throws {
  let data = try GeneratedSplitMNIST()
  let metrics = data.directory.path("metrics.json")
  var closed = false
  let result = runTool(
    [
      "run", "\(repositoryRoot)/tasks/paper-mnist.json", "--data-dir", data.directory.path("mnist"),
      "--method", "single,original", "--seeds", "1", "--set", "training.epochs=2",
      "--metrics-json", metrics,
    ],
    watch: { line in if line.hasPrefix("  single seed 0 epoch 1/2") { closed = true } },
    closed: { closed })
  #expect(result.status == 1)
  #expect(
    result.error == """
      error: standard output was closed (broken pipe); the comparison stopped after single seed \
      0; the metrics of the runs so far are in \(metrics)

      """)
  #expect(!result.output.contains("original seed 0"))
  let written = try JSONSerialization.jsonObject(
    with: Data(contentsOf: URL(fileURLWithPath: metrics)))
  // The finished run's metrics, whole.
  #expect(
    ((written as? [String: Any])?["runs"] as? [[String: Any]])?.map { $0["method"] as? String } == [
      "single"
    ])
}

@Test func aMetricsFileThatCannotBeWrittenFailsBeforeTraining() throws {
  let data = try GeneratedSplitMNIST()
  let file = data.directory.path("file")
  try Data().write(to: URL(fileURLWithPath: file))
  let result = runTool(
    data.run(into: data.directory.path("checkpoints"), ["--metrics-json", "\(file)/m.json"]))
  #expect(result.status == 2)
  #expect(
    result.error == """
      error: \(file): cannot create the directory: Not a directory
      hint: choose another file for --metrics-json

      """)
  #expect(result.output.isEmpty)
}
