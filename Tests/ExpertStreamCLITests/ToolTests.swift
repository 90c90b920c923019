import Datasets
import Foundation
import Testing
import _TestSupport

@testable import ExpertStreamCLI

/// Runs the tool in-process and captures what it printed.
func runTool(_ arguments: [String]) -> (status: Int32, output: String, error: String) {
  final class Capture: @unchecked Sendable {
    var output = ""
    var error = ""
  }
  let capture = Capture()
  let console = Console(output: { capture.output += $0 }, error: { capture.error += $0 })
  let status = ExpertStreamTool.main(arguments, console: console)
  return (status, capture.output, capture.error)
}

@Suite struct ToolTests {
  @Test func topLevelHelpListsCommands() {
    let result = runTool(["--help"])
    #expect(result.status == 0)
    #expect(result.output.contains("bench ops"))
  }

  @Test func noArgumentsIsAUsageError() {
    #expect(runTool([]).status == 2)
  }

  @Test func commandHelpShowsUsageAndExample() {
    let result = runTool(["bench", "ops", "--help"])
    #expect(result.status == 0)
    #expect(result.output.contains("Usage:"))
    #expect(result.output.contains("Example:"))
    #expect(result.output.contains("--threads T"))
  }

  @Test func groupHelpListsSubcommands() {
    let result = runTool(["bench", "--help"])
    #expect(result.status == 0)
    #expect(result.output.contains("expertstream bench ops"))
  }

  @Test func everyGroupsHelpStartsWithAUsageLine() {
    #expect(
      ExpertStreamTool.subcommandGroups.sorted() == ["bench", "data", "notebook", "scenario"])
    for group in ExpertStreamTool.subcommandGroups {
      for flag in ["--help", "-h"] {
        let result = runTool([group, flag])
        #expect(result.status == 0, "\(group) \(flag)")
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "Usage:", "\(group) \(flag): \(result.output)")
        #expect(lines.dropFirst().first == "  expertstream \(group) SUBCOMMAND [OPTIONS]")
        #expect(result.output.contains("Subcommands:"))
      }
    }
  }

  @Test func unknownOptionIsRejectedWithAHint() {
    let result = runTool(["bench", "ops", "--thread", "2"])
    #expect(result.status == 2)
    #expect(result.error.contains("unknown option '--thread'"))
    #expect(result.error.contains("did you mean '--threads'?"))
  }

  @Test func badOptionValueNamesOptionAndValue() {
    let result = runTool(["bench", "ops", "--threads", "zero"])
    #expect(result.status == 2)
    #expect(result.error.contains("'--threads'"))
    #expect(result.error.contains("'zero'"))
  }

  @Test func missingValueIsAUsageError() {
    let result = runTool(["bench", "ops", "--batch"])
    #expect(result.status == 2)
    #expect(result.error.contains("needs a value"))
  }

  @Test func unexpectedPositionalIsAUsageError() {
    let result = runTool(["bench", "ops", "extra"])
    #expect(result.status == 2)
    #expect(result.error.contains("got 1: extra"))
  }

  @Test func unknownCommandSuggestsTheClosest() {
    let result = runTool(["bnech"])
    #expect(result.status == 2)
    #expect(result.error.contains("did you mean 'bench'?"))
  }

  @Test func benchOpsReportsRatesAndCoreType() {
    // One thread: the bench sets OpenBLAS's own (process-wide) thread count to time it, and
    // other tests run concurrently in this process; at 1 it stays what the engine uses.
    let result = runTool(["bench", "ops", "--quick", "--batch", "32", "--threads", "1"])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("OpenBLAS core"))
    #expect(result.output.contains("linear 784→128, batch 32"))
    #expect(result.output.contains("conv2d 3×3 1→8"))
    #expect(result.output.contains("GFLOP/s"))
  }

  @Test func benchTrainReportsSamplesPerSecondAndPeakMemory() {
    let result = runTool([
      "bench", "train", "--synthetic", "--batches", "2", "--warmup", "0", "--batch", "16",
      "--threads", "1", "--experts", "2", "--ls", "1e-6,1e-6",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("samples/s") && result.output.contains("peak memory"))
    #expect(runTool(["bench", "train", "--ls", "1e-6"]).status == 2)
    // The three bench commands name the architecture and the gate alike.
    let softmax = runTool([
      "bench", "train", "--synthetic", "--batches", "1", "--warmup", "0", "--batch", "16",
      "--threads", "1", "--experts", "2", "--architecture", "paper-mnist", "--gate", "softmax",
    ])
    #expect(softmax.status == 0, "\(softmax.error)")
    #expect(softmax.output.contains("paper-mnist, softmax gate"))
    #expect(runTool(["bench", "train", "--gate", "original"]).status == 2)
    #expect(runTool(["bench", "train", "--arch", "paper-mnist"]).status == 2)
  }

  @Test func benchMoEReportsSamplesPerSecond() {
    let result = runTool([
      "bench", "moe", "--quick", "--batch", "16", "--threads", "1", "--experts", "2",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("train step: forward+backward+Adam"))
    #expect(result.output.contains("samples/s"))
  }
}

@Test func progressBarsAppearOnlyOnTerminals() throws {
  #expect(Console.bar(done: 3, total: 6, width: 10, detail: "x") == "[#####.....] 3/6 x")
  var written = ""
  let terminal = Console(isTerminal: true, output: { written += $0 }, error: { _ in })
  terminal.progress("working")
  terminal.print("done")
  #expect(written == "\r\u{1B}[2Kworking\r\u{1B}[2Kdone\n")
  let quick = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../tasks/quick.json").standardized.path
  let directory = try TemporaryDirectory()
  let result = runTool([
    "run", quick, "--set", "training.epochs=1", "--set",
    "checkpoint.directory=\(directory.url.path)",
  ])
  #expect(result.status == 0, "\(result.error)")
  #expect(!result.output.contains("\u{1B}") && !result.output.contains("\r"))
}

@Test func foundationFileErrorsAreDescribedByPathAndTheSystemsReason() throws {
  let directory = try TemporaryDirectory()
  let missing = directory.path("missing.txt")
  do {
    _ = try Data(contentsOf: URL(fileURLWithPath: missing))
    Issue.record("expected an error")
  } catch {
    #expect(describeError(error) == "\(missing): No such file or directory")
    #expect(!describeError(error).contains("NSCocoaErrorDomain"))
  }
  #expect(describeError(UsageError("plain", hint: "h")).contains("plain"))
}

@Test func benchTasksTrainsOneStreamPerTaskCountOnGeneratedData() throws {
  let directory = try TemporaryDirectory()
  let scenario = directory.path("small.json")
  try #"""
  {"name": "small", "model": {"expert": "mlp", "hidden": [8], "gate_hidden": [8]},
   "training": {"epochs": 1, "batch_size": 16}, "dataset": {"validation_fraction": 0}}
  """#.write(toFile: scenario, atomically: true, encoding: .utf8)
  let result = runTool([
    "bench", "tasks", scenario, "--tasks", "2,3", "--classes-per-task", "3",
    "--samples-per-class", "12", "--threads", "1",
  ])
  #expect(result.status == 0, "\(result.error)")
  #expect(result.output.contains("3 classes per task, 12 training samples per class"))
  #expect(result.output.contains("3 tasks: task 2 trained in"))
  let rows = result.output.split(separator: "\n").filter {
    $0.hasPrefix("2 ") || $0.hasPrefix("3 ")
  }
  #expect(rows.count == 2, "\(result.output)")
  #expect(rows.last?.split(separator: " ").count == 8)
  #expect(
    !FileManager.default.fileExists(
      atPath: NSTemporaryDirectory() + "expertstream-"
        + "generated-28x28-9-\(ProcessInfo.processInfo.processIdentifier)"))
}

@Test func benchTasksRefusesTaskCountsItCannotGenerate() {
  for (arguments, message) in [
    (["--tasks", "0"], "--tasks takes positive whole numbers"),
    (["--tasks", "5,,10"], "got '5,,10'"),
    (["--tasks", "129"], "needs 258 classes; the generated data has at most 256"),
    (["--classes-per-task", "0"], "--classes-per-task"),
  ] {
    let result = runTool(["bench", "tasks", "tasks/quick.json"] + arguments)
    #expect(result.status == 2, "\(arguments)")
    #expect(result.error.contains(message), "\(result.error)")
  }
  let missing = runTool(["bench", "tasks"])
  #expect(missing.status == 2)
}
