import Foundation

/// `expertstream notebook check FILE...`: re-runs the runnable blocks of markdown notebooks
/// and compares their output with the recorded one.
struct NotebookCheckCommand: Command {
  static let configuration = CommandConfiguration(
    name: "notebook check",
    summary: "Re-run the runnable blocks of markdown notebooks and compare their output.",
    usage: ["notebook check FILE... [--update]"],
    options: [
      .flag(
        "--update",
        "Write each failing block's new output into the notebook instead of failing "
          + "(then mark varying parts with [...] by hand)."),
      .flag("--quiet", "Print only failures and the final count."),
    ],
    examples: ["expertstream notebook check notebooks-md/*.md"],
    positionals: 1...10_000)

  let paths: [String]
  let update: Bool
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    paths = arguments.positionals
    update = arguments.flag("--update")
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    let notebooks = try paths.map { try Notebook(path: $0) }
    var (passed, failed, updated) = (0, 0, 0)
    for notebook in notebooks {
      var replacements: [(block: Notebook.Block, output: [String])] = []
      for block in notebook.blocks {
        if let file = block.attribute("file") {
          let contents = (try? String(contentsOfFile: file, encoding: .utf8))?
            .components(separatedBy: "\n")
          if let contents, Notebook.trimmed(contents) == Notebook.trimmed(block.body) {
            passed += 1
            if !quiet { console.print("\(notebook.path):\(block.line): listing of \(file) ok") }
          } else {
            failed += 1
            console.print(
              "\(notebook.path):\(block.line): FAILED: the listing differs from \(file)"
                + (contents == nil ? " (cannot read it)" : ""))
          }
          continue
        }
        guard block.isRunnable else { continue }
        guard let (command, expected) = block.commandAndOutput else {
          throw NotebookError(
            path: notebook.path, line: block.line,
            message: "a runnable block must start with '$ ' and the command")
        }
        let expectedStatus = Int32(block.attribute("exit") ?? "0") ?? 0
        let started = Date()
        let (status, output) = try Self.shell(command)
        let actual = output.components(separatedBy: "\n")
        let seconds = Date().timeIntervalSince(started)
        if status == expectedStatus && Notebook.matches(expected, actual) {
          passed += 1
          if !quiet {
            console.print(
              String(format: "%@:%d: ok (%.1f s) $ %@", notebook.path, block.line, seconds, command)
            )
          }
        } else if update {
          updated += 1
          replacements.append((block, Notebook.trimmed(actual)))
          console.print("\(notebook.path):\(block.line): updated $ \(command)")
        } else {
          failed += 1
          console.print("\(notebook.path):\(block.line): FAILED $ \(command)")
          if status != expectedStatus {
            console.print("  exit status \(status), expected \(expectedStatus)")
          }
          console.print(Self.difference(expected, actual))
        }
      }
      if !replacements.isEmpty { try rewrite(notebook, replacements) }
    }
    let blocks = passed + failed + updated
    console.print(
      "\(notebooks.count) notebook(s), \(blocks) checked block(s): \(passed) passed, "
        + "\(failed) failed" + (update ? ", \(updated) updated" : ""))
    if failed > 0 {
      throw NotebookCheckFailure(count: failed)
    }
  }

  /// Runs `command` with `/bin/sh` in the current directory, with the directory of this
  /// executable first on `PATH` (so `expertstream` is this build); standard output and
  /// error together.
  static func shell(_ command: String) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    var environment = ProcessInfo.processInfo.environment
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
      .deletingLastPathComponent().path
    environment["PATH"] = binary + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  /// The recorded and the actual output, line by line, the first differing lines marked.
  static func difference(_ expected: [String], _ actual: [String]) -> String {
    let expected = Notebook.trimmed(expected)
    let actual = Notebook.trimmed(actual)
    let first =
      zip(expected, actual).enumerated().first { pair in
        pair.element.0 != Notebook.varying && !Notebook.lineMatches(pair.element.0, pair.element.1)
      }?.offset ?? min(expected.count, actual.count)
    var lines = ["  first difference at output line \(first + 1):"]
    let window = max(0, first - 2)..<(first + 6)
    for index in window where index < max(expected.count, actual.count) {
      if index < expected.count { lines.append("  - " + expected[index]) }
      if index < actual.count { lines.append("  + " + actual[index]) }
    }
    lines.append("  (- recorded, + now; mark varying text with [...])")
    return lines.joined(separator: "\n")
  }

  private func rewrite(
    _ notebook: Notebook, _ replacements: [(block: Notebook.Block, output: [String])]
  ) throws {
    var lines = try String(contentsOfFile: notebook.path, encoding: .utf8)
      .components(separatedBy: "\n")
    // From the last block up, so earlier line numbers stay valid.
    for (block, output) in replacements.sorted(by: { $0.block.line > $1.block.line }) {
      let commandLines = block.body.count - (block.commandAndOutput?.output.count ?? 0)
      let start = block.line + commandLines  // 0-based index of the first output line
      lines.replaceSubrange(start..<(block.line + block.body.count), with: output)
    }
    try Data(lines.joined(separator: "\n").utf8).write(
      to: URL(fileURLWithPath: notebook.path), options: .atomic)
  }
}

/// Runnable blocks whose output no longer matches: exit status 1.
struct NotebookCheckFailure: Error, CustomStringConvertible {
  let count: Int
  var description: String {
    "\(count) notebook block(s) failed; re-run with --update to record the new output"
  }
}
