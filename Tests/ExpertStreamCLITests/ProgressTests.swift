import ExpertStreamCLI
import Foundation
import Testing
import _TestSupport

/// Runs the built executable with `arguments` and returns everything it wrote to standard
/// output; under a pseudo-terminal (`script` from util-linux) when `terminal` is set.
private func runExecutable(_ arguments: [String], terminal: Bool) throws -> (Int32, String) {
  let process = Process()
  let output = Pipe()
  if terminal {
    let quoted = ([executable!] + arguments).map { "'\($0)'" }.joined(separator: " ")
    process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
    process.arguments = ["-q", "-e", "-c", quoted, "/dev/null"]
  } else {
    process.executableURL = URL(fileURLWithPath: executable!)
    process.arguments = arguments
  }
  process.standardOutput = output
  process.standardError = FileHandle.nullDevice
  process.standardInput = FileHandle.nullDevice
  try process.run()
  let data = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private let canRunExecutable =
  hasFashionMNIST && executable != nil && FileManager.default.fileExists(atPath: "/usr/bin/script")

@Test(
  .enabled(
    if: canRunExecutable,
    "needs the built expertstream executable, script (util-linux) and the FashionMNIST package"))
func progressBarIsDrawnAndClearedOnATerminal() throws {
  let directory = try TemporaryDirectory()
  let (status, output) = try runExecutable(
    ["run", quickScenario, "--set", "checkpoint.directory=\(directory.path("c"))"],
    terminal: true)
  #expect(status == 0, "\(output)")
  let clear = "\r\u{1B}[2K"
  // Drawn: a bar with batches done, samples/s, loss and ETA, redrawn in place.
  let bar = try #require(output.range(of: clear + "  task 1 epoch 1 ["))
  let drawn = output[bar.upperBound...].prefix { $0 != "\r" && $0 != "\n" }
  #expect(drawn.contains("/5 ") && drawn.contains("samples/s, loss ") && drawn.contains("ETA "))
  // Cleared: the epoch's summary line starts with the clearing sequence, on its own line.
  #expect(output.contains(clear + "  task 1 epoch 1/1: loss "))
  #expect(!output.hasSuffix(String(drawn)))
}

@Test(
  .enabled(
    if: canRunExecutable, "needs the built expertstream executable and the FashionMNIST package"))
func outputThatIsNotATerminalHasNoEscapeCodes() throws {
  let directory = try TemporaryDirectory()
  for extra in [[], ["--quiet"], ["--log-format", "json"]] {
    let (status, output) = try runExecutable(
      ["run", quickScenario, "--set", "checkpoint.directory=\(directory.path("c"))"] + extra,
      terminal: false)
    #expect(status == 0)
    #expect(!output.contains("\u{1B}") && !output.contains("\r"), "\(extra)")
    #expect(!output.isEmpty)
  }
}

@Test(
  .enabled(if: canRunExecutable, "needs the built expertstream executable and FashionMNIST"))
func quietAndJSONOnATerminalDrawNoBar() throws {
  let directory = try TemporaryDirectory()
  for extra in [["--quiet"], ["--log-format", "json"]] {
    let (status, output) = try runExecutable(
      ["run", quickScenario, "--set", "checkpoint.directory=\(directory.path("c"))"] + extra,
      terminal: true)
    #expect(status == 0)
    #expect(!output.contains("\u{1B}"), "\(extra)")
  }
}

@Test(.enabled(if: hasFashionMNIST, "needs the FashionMNIST package"))
func jsonLogIsOneObjectPerLine() throws {
  let directory = try TemporaryDirectory()
  let result = runTool([
    "run", quickScenario, "--log-format", "json", "--set",
    "checkpoint.directory=\(directory.path("c"))",
  ])
  #expect(result.status == 0)
  let events = try result.output.split(separator: "\n").map {
    try #require(
      try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["event"] as? String
  }
  #expect(
    events == ["start"]
      + Array(repeating: ["task_started", "epoch", "task_finished"], count: 3)
      .flatMap { $0 } + ["run", "finished"])
  #expect(runTool(["run", quickScenario, "--log-format", "yaml"]).status == 2)
}
