import Foundation

/// Where a command writes: standard output and error in the tool, buffers in tests.
public final class Console {
  private let writeOutput: (String) -> Void
  private let writeError: (String) -> Void
  /// Whether standard output is an interactive terminal (live progress bars are drawn only
  /// then).
  public let isTerminal: Bool

  /// A console writing to the given sinks.
  public init(
    isTerminal: Bool = false, output: @escaping (String) -> Void,
    error: @escaping (String) -> Void
  ) {
    self.isTerminal = isTerminal
    self.writeOutput = output
    self.writeError = error
  }

  /// The process's standard output and error.
  public static func standard() -> Console {
    Console(
      isTerminal: isatty(STDOUT_FILENO) == 1,
      output: { FileHandle.standardOutput.write(Data($0.utf8)) },
      error: { FileHandle.standardError.write(Data($0.utf8)) })
  }

  /// Writes a line to standard output (ending any live progress bar first).
  public func print(_ line: String = "") {
    if barShown {
      writeOutput("\r\u{1B}[2K")
      barShown = false
    }
    writeOutput(line + "\n")
  }

  private var barShown = false

  /// Redraws a one-line live progress bar in place; nothing when output is not a terminal.
  public func progress(_ line: String) {
    guard isTerminal else { return }
    writeOutput("\r\u{1B}[2K" + line)
    barShown = true
  }

  /// A progress bar: `[#####.....] done/total` followed by `detail`.
  public static func bar(done: Int, total: Int, width: Int = 24, detail: String) -> String {
    let filled = total > 0 ? min(width, width * done / total) : 0
    return "[" + String(repeating: "#", count: filled)
      + String(repeating: ".", count: width - filled)
      + "] \(done)/\(total) " + detail
  }

  /// Writes a line to standard error.
  public func printError(_ line: String) { writeError(line + "\n") }
}
