import Foundation
import Testing
import _TestSupport

/// The API reference's articles, in `Sources/ExpertStream/ExpertStream.docc`.
private let articles = URL(
  fileURLWithPath: "\(repositoryRoot)/Sources/ExpertStream/ExpertStream.docc")

/// The code blocks of a markdown file: the language after the fence, and the lines.
private func codeBlocks(_ text: String) -> [(language: String, lines: [String])] {
  var blocks: [(String, [String])] = []
  var current: (String, [String])?
  for line in text.components(separatedBy: "\n") {
    if line.hasPrefix("```") {
      if let block = current {
        blocks.append(block)
        current = nil
      } else {
        current = (String(line.dropFirst(3)), [])
      }
    } else if current != nil {
      current!.1.append(line)
    }
  }
  return blocks
}

/// The lines without their leading spaces, blank lines dropped.
private func stripped(_ lines: [String]) -> [String] {
  lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

@Test func everySwiftListingOfTheArticlesIsCodeThatCIBuilds() throws {
  let example = try String(
    contentsOfFile: "\(repositoryRoot)/Sources/CustomExpertExample/main.swift", encoding: .utf8)
  let source = stripped(example.components(separatedBy: "\n"))
  let files = try FileManager.default.contentsOfDirectory(atPath: articles.path)
    .filter { $0.hasSuffix(".md") && $0 != "ExpertStream.md" }
  #expect(files.count == 4)
  for file in files {
    let text = try String(contentsOf: articles.appendingPathComponent(file), encoding: .utf8)
    let swift = codeBlocks(text).filter { $0.language == "swift" }
    #expect(!swift.isEmpty, "\(file) has no Swift listing")
    for block in swift {
      let listing = stripped(block.lines)
      let found = source.indices.contains { start in
        start + listing.count <= source.count
          && Array(source[start..<(start + listing.count)]) == listing
      }
      #expect(
        found, "\(file): a listing not in the example target:\n\(listing.joined(separator: "\n"))")
    }
  }
}

@Test(
  .enabled(
    if: hasFashionMNIST && hasH5py,
    "needs python3 with h5py (pip install h5py) and the FashionMNIST package"))
func thePythonListingOfReadACheckpointRunsOnACheckpoint() throws {
  let text = try String(
    contentsOf: articles.appendingPathComponent("ReadACheckpoint.md"), encoding: .utf8)
  let python = try #require(codeBlocks(text).first { $0.language == "python" })
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("checkpoints")
  #expect(
    runTool(["run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(checkpoints)"])
      .status == 0)
  let script = directory.path("listing.py")
  try python.lines.joined(separator: "\n").write(toFile: script, atomically: true, encoding: .utf8)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["python3", script, "\(checkpoints)/latest.h5"]
  let output = Pipe()
  process.standardOutput = output
  try process.run()
  process.waitUntilExit()
  let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  #expect(process.terminationStatus == 0)
  #expect(printed.hasPrefix("quick 3 experts"), "\(printed)")
}
