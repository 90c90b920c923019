import Foundation
import Reports
import Testing
import _TestSupport

/// The API reference's articles, in `Sources/ExpertStream/ExpertStream.docc`.
private let articles = URL(
  fileURLWithPath: "\(repositoryRoot)/Sources/ExpertStream/ExpertStream.docc")

/// The fenced blocks of an article in `language`, as the notebook checker reads them.
private func listings(_ article: URL, in language: String) throws -> [[String]] {
  try Notebook(path: article.path).blocks.filter { $0.info.first == language }.map(\.body)
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
    let swift = try listings(articles.appendingPathComponent(file), in: "swift")
    #expect(!swift.isEmpty, "\(file) has no Swift listing")
    for block in swift {
      let listing = stripped(block)
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
  let python = try #require(
    try listings(articles.appendingPathComponent("ReadACheckpoint.md"), in: "python").first)
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("checkpoints")
  #expect(
    runTool(["run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(checkpoints)"])
      .status == 0)
  let script = directory.path("listing.py")
  try python.joined(separator: "\n").write(toFile: script, atomically: true, encoding: .utf8)
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
