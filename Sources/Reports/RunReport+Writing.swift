import Checkpoints
import Foundation

extension RunReport {
  // MARK: - Writing

  /// Writes the figures, `summary.md` and the HTML pages (``htmlPages()``) into
  /// `directory`, created with its parents.
  ///
  /// The report is staged beside `directory` and moved into place, so a failure leaves no
  /// half-written report. Files of an existing `directory` that the report writes are
  /// replaced; others stay.
  ///
  /// - Throws: ``FileSystemError`` naming the parent directory when it cannot be created or
  ///   written to, before anything is written; the error of a file that cannot be written or
  ///   moved (the staged files are then removed).
  public func write(to directory: String) throws {
    let fileManager = FileManager.default
    let target = URL(fileURLWithPath: directory).standardized
    // Checked first, so an unusable directory says where and why.
    try FileSystem.createDirectory(target.deletingLastPathComponent().path)
    try FileSystem.checkWritable(target.deletingLastPathComponent().path)
    let staging = URL(fileURLWithPath: FileSystem.temporaryPath(for: target.path))
    try? fileManager.removeItem(at: staging)
    do {
      var markdown = ["# Report: \(input)", ""]
      for run in runs {
        let runDirectory =
          run.name.isEmpty ? staging : staging.appendingPathComponent(run.name)
        try fileManager.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let figures = RunFigures(summary: run.summary)
        let written = try figures.write(to: runDirectory.path)
        markdown += figures.markdown(
          heading: run.name.isEmpty ? nil : run.name, source: run.file,
          figures: written.map { run.name.isEmpty ? $0 : "\(run.name)/\($0)" })
      }
      try Data(markdown.joined(separator: "\n").utf8).write(
        to: staging.appendingPathComponent("summary.md"))
      for page in htmlPages() {
        try Data(page.html.utf8).write(to: staging.appendingPathComponent(page.path))
      }
      if fileManager.fileExists(atPath: target.path) {
        try Self.replaceFiles(at: target, with: staging)
      } else {
        try fileManager.moveItem(at: staging, to: target)
      }
    } catch {
      try? fileManager.removeItem(at: staging)
      throw error
    }
  }

  /// Moves the staged report's files over an existing directory, keeping files the report
  /// does not write.
  private static func replaceFiles(at target: URL, with staging: URL) throws {
    let fileManager = FileManager.default
    guard let enumerator = fileManager.enumerator(atPath: staging.path) else { return }
    for case let relative as String in enumerator {
      let source = staging.appendingPathComponent(relative)
      var isDirectory: ObjCBool = false
      _ = fileManager.fileExists(atPath: source.path, isDirectory: &isDirectory)
      let destination = target.appendingPathComponent(relative)
      if isDirectory.boolValue {
        try fileManager.createDirectory(at: destination, withIntermediateDirectories: true)
      } else {
        if fileManager.fileExists(atPath: destination.path) {
          try fileManager.removeItem(at: destination)
        }
        try fileManager.moveItem(at: source, to: destination)
      }
    }
    try fileManager.removeItem(at: staging)
  }
}
