import Checkpoints
import Foundation

/// The repository's root directory.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../..").standardized.path

/// `tasks/quick.json`: a continual run of seconds.
let quickScenario = "\(repositoryRoot)/tasks/quick.json"

/// Whether Debian's FashionMNIST package is installed.
let hasFashionMNIST = FileManager.default.fileExists(
  atPath: "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")

/// Whether `python3` can import h5py.
let hasH5py: Bool = {
  guard
    let process = try? Process.run(
      URL(fileURLWithPath: "/usr/bin/env"), arguments: ["python3", "-c", "import h5py"])
  else { return false }
  process.waitUntilExit()
  return process.terminationStatus == 0
}()

/// Whether `python3` can import the `tensorboard` package (and Pillow, which it needs).
let hasTensorBoard: Bool = {
  guard
    let process = try? Process.run(
      URL(fileURLWithPath: "/usr/bin/env"),
      arguments: ["python3", "-c", "import tensorboard, PIL"])
  else { return false }
  process.waitUntilExit()
  return process.terminationStatus == 0
}()

/// Whether this is CI (`CI=true`), which installs every Python package tests use: a test
/// needing a missing one fails there instead of being skipped.
let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

/// The `expertstream` executable SwiftPM built beside this test bundle, if any.
let executable: String? = {
  let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  let candidates = [directory, directory.deletingLastPathComponent()].map {
    $0.appendingPathComponent("expertstream").path
  }
  return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// Runs `program` with `arguments` in `directory` (default: the current one), its
/// environment this process's with `environment` laid over it (`nil` values unset), and
/// returns its exit status and everything it wrote to standard output and error.
func runProgram(
  _ program: String, _ arguments: [String], in directory: String? = nil,
  environment: [String: String?] = [:]
) throws -> (status: Int32, output: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: program)
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  var merged = ProcessInfo.processInfo.environment
  for (name, value) in environment { merged[name] = value }
  process.environment = merged
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = pipe
  try process.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Every dataset under `group`, by path, as the bit patterns of its values read as Float64
/// (integers convert exactly; equal patterns mean equal values, NaN included).
func datasets(in group: HDF5Group, prefix: String = "") throws -> [String: [UInt64]] {
  var result: [String: [UInt64]] = [:]
  for name in try group.memberNames() {
    if let values = try? group.readDoubles(name).values {
      result[prefix + name] = values.map(\.bitPattern)
    } else {
      result.merge(
        try datasets(in: group.existingGroup(name), prefix: prefix + name + "/")
      ) { a, _ in a }
    }
  }
  return result
}
