import Foundation

/// The repository's root directory.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../..").standardized.path

/// `tasks/quick.json`: a continual run of seconds.
let quickScenario = "\(repositoryRoot)/tasks/quick.json"

/// Whether Debian's FashionMNIST package is installed.
let hasFashionMNIST = FileManager.default.fileExists(
  atPath: "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")

/// The `expertstream` executable SwiftPM built beside this test bundle, if any.
let executable: String? = {
  let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  let candidates = [directory, directory.deletingLastPathComponent()].map {
    $0.appendingPathComponent("expertstream").path
  }
  return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()
