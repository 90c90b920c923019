import Foundation

extension Notebook {
  // MARK: - Checking

  /// What checking one block found.
  public struct BlockCheck: CustomStringConvertible {
    /// The outcome of a listing or a runnable block.
    public enum Outcome {
      /// A listing equal to its file.
      case listingMatches(file: String)
      /// A listing that differs from its file, or whose file cannot be read.
      case listingDiffers(file: String, readable: Bool)
      /// A command that exited with the expected status and printed the recorded output.
      case passed(command: String, seconds: Double)
      /// A command whose new output replaces the recorded one.
      case updated(command: String)
      /// A command whose status or output differs: the status, the expected one, and the
      /// recorded and new output around the first difference.
      case failed(command: String, status: Int32, expectedStatus: Int32, difference: String)
    }

    /// The notebook's path.
    public var path: String
    /// The 1-based line of the block's opening fence.
    public var line: Int
    /// What the check found.
    public var outcome: Outcome

    /// Whether the block passed (an updated block did not).
    public var passed: Bool {
      switch outcome {
      case .listingMatches, .passed: return true
      case .listingDiffers, .updated, .failed: return false
      }
    }

    /// The report of the check, as `expertstream notebook check` prints it: one line, and
    /// for a failed command the exit status (when it differs) and the difference below.
    public var description: String {
      let place = "\(path):\(line)"
      switch outcome {
      case .listingMatches(let file):
        return "\(place): listing of \(file) ok"
      case .listingDiffers(let file, let readable):
        return "\(place): FAILED: the listing differs from \(file)"
          + (readable ? "" : " (cannot read it)")
      case .passed(let command, let seconds):
        return String(format: "%@:%d: ok (%.1f s) $ %@", path, line, seconds, command)
      case .updated(let command):
        return "\(place): updated $ \(command)"
      case .failed(let command, let status, let expectedStatus, let difference):
        var lines = ["\(place): FAILED $ \(command)"]
        if status != expectedStatus {
          lines.append("  exit status \(status), expected \(expectedStatus)")
        }
        return (lines + [difference]).joined(separator: "\n")
      }
    }
  }

  /// How many blocks passed, failed and were updated.
  public struct CheckCounts: Equatable {
    /// Listings equal to their files and commands that printed the recorded output.
    public var passed = 0
    /// Listings and commands that differ.
    public var failed = 0
    /// Commands whose recorded output was replaced.
    public var updated = 0

    /// No blocks checked.
    public init() {}

    /// Every block checked.
    public var total: Int { passed + failed + updated }

    /// Adds the counts of `other`, such as another notebook's.
    public static func += (counts: inout CheckCounts, other: CheckCounts) {
      counts.passed += other.passed
      counts.failed += other.failed
      counts.updated += other.updated
    }
  }

  /// Checks the notebook's listings against their files and re-runs its runnable blocks,
  /// comparing status and output with the recorded ones; `onBlock` gets each block's check
  /// as soon as it is done.
  ///
  /// Commands run with `/bin/sh` in the current directory, standard output and error
  /// together, the directory of the running executable first on `PATH` (so `expertstream`
  /// there is the build that checks). With `updating`, each differing command's new output
  /// replaces the recorded one in the file (written once, after the last block) instead of
  /// failing; varying parts then need `[...]` by hand.
  ///
  /// - Throws: ``NotebookError`` for a runnable block that does not start with `$ ` (blocks
  ///   before it are checked, nothing is rewritten); the error of a command that cannot be
  ///   started or of a notebook that cannot be rewritten.
  public func check(
    updating: Bool = false, onBlock: (BlockCheck) throws -> Void = { _ in }
  ) throws -> CheckCounts {
    var counts = CheckCounts()
    var replacements: [(block: Block, output: [String])] = []
    for block in blocks {
      let outcome: BlockCheck.Outcome
      if let file = block.attribute("file") {
        let contents = (try? String(contentsOfFile: file, encoding: .utf8))?
          .components(separatedBy: "\n")
        if let contents, Self.trimmed(contents) == Self.trimmed(block.body) {
          outcome = .listingMatches(file: file)
        } else {
          outcome = .listingDiffers(file: file, readable: contents != nil)
        }
      } else if block.isRunnable {
        guard let (command, expected) = block.commandAndOutput else {
          throw NotebookError(
            path: path, line: block.line,
            message: "a runnable block must start with '$ ' and the command")
        }
        let expectedStatus = Int32(block.attribute("exit") ?? "0") ?? 0
        let started = Date()
        let (status, output) = try Self.shell(command)
        let actual = output.components(separatedBy: "\n")
        let seconds = Date().timeIntervalSince(started)
        if status == expectedStatus && Self.matches(expected, actual) {
          outcome = .passed(command: command, seconds: seconds)
        } else if updating {
          replacements.append((block, Self.trimmed(actual)))
          outcome = .updated(command: command)
        } else {
          outcome = .failed(
            command: command, status: status, expectedStatus: expectedStatus,
            difference: Self.difference(expected, actual))
        }
      } else {
        continue
      }
      let check = BlockCheck(path: path, line: block.line, outcome: outcome)
      switch outcome {
      case .listingMatches, .passed: counts.passed += 1
      case .listingDiffers, .failed: counts.failed += 1
      case .updated: counts.updated += 1
      }
      try onBlock(check)
    }
    if !replacements.isEmpty { try rewrite(replacements) }
    return counts
  }

  /// Runs `command` with `/bin/sh` in the current directory, with the directory of this
  /// executable first on `PATH`; its exit status and its standard output and error
  /// together.
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
    let expected = trimmed(expected)
    let actual = trimmed(actual)
    let first =
      zip(expected, actual).enumerated().first { pair in
        pair.element.0 != varying && !lineMatches(pair.element.0, pair.element.1)
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

  /// Writes each block's new output over its recorded output in the notebook's file.
  private func rewrite(_ replacements: [(block: Block, output: [String])]) throws {
    var lines = try String(contentsOfFile: path, encoding: .utf8)
      .components(separatedBy: "\n")
    // From the last block up, so earlier line numbers stay valid.
    for (block, output) in replacements.sorted(by: { $0.block.line > $1.block.line }) {
      let commandLines = block.body.count - (block.commandAndOutput?.output.count ?? 0)
      let start = block.line + commandLines  // 0-based index of the first output line
      lines.replaceSubrange(start..<(block.line + block.body.count), with: output)
    }
    try Data(lines.joined(separator: "\n").utf8).write(
      to: URL(fileURLWithPath: path), options: .atomic)
  }
}
