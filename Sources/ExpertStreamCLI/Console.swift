import Continual
import Experiments
import Foundation

/// Where a command writes: standard output and error in the tool, buffers in tests.
public final class Console {
  private let writeOutput: (String) -> Void
  private let writeError: (String) -> Void
  private let outputClosed: () -> Bool
  /// Whether standard output is an interactive terminal (live progress bars are drawn only
  /// then).
  public let isTerminal: Bool

  /// A console writing to the given sinks.
  ///
  /// - Parameter isOutputClosed: Whether the output's reader has gone (see
  ///   ``isOutputClosed``).
  public init(
    isTerminal: Bool = false, output: @escaping (String) -> Void,
    error: @escaping (String) -> Void, isOutputClosed: @escaping () -> Bool = { false }
  ) {
    self.isTerminal = isTerminal
    self.writeOutput = output
    self.writeError = error
    self.outputClosed = isOutputClosed
  }

  /// The process's standard output and error.
  ///
  /// A write that fails (`EPIPE` when the reader has gone, as `head` does) closes the
  /// stream: nothing more is written to it and ``isOutputClosed`` turns true. The tool
  /// ignores `SIGPIPE`, so that failure reaches here instead of killing the process.
  public static func standard() -> Console {
    let output = StandardStream(STDOUT_FILENO)
    let error = StandardStream(STDERR_FILENO)
    return Console(
      isTerminal: isatty(STDOUT_FILENO) == 1, output: output.write, error: error.write,
      isOutputClosed: { output.isClosed })
  }

  /// Whether the reader of the output has gone (`EPIPE`): long commands then stop at the
  /// next safe point, after the checkpoint in progress.
  public var isOutputClosed: Bool { outputClosed() }

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

/// Standard output or error, written with `write(2)`: a broken pipe closes it instead of
/// raising an exception.
private final class StandardStream {
  private let descriptor: Int32
  private(set) var isClosed = false

  init(_ descriptor: Int32) { self.descriptor = descriptor }

  func write(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !isClosed && !bytes.isEmpty {
      let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
      if count > 0 {
        bytes = bytes.dropFirst(count)
      } else if count < 0 && errno == EINTR {
        continue
      } else {
        isClosed = true
      }
    }
  }
}

/// Standard output was closed by its reader: the command stopped early, at a safe point.
struct OutputClosedError: Error, CustomStringConvertible {
  /// Where the command stopped and what it left.
  let stoppedAt: String

  var description: String { "standard output was closed (broken pipe); \(stoppedAt)" }
}

/// How a command reports progress: lines for people, or one JSON object per line for
/// programs (`--log-format json`).
public enum LogFormat: String, CaseIterable {
  case text, json
}

/// A command's progress and results, written in one ``LogFormat``.
///
/// In text format, events print their text line (unless quiet) and the live bar is drawn
/// on a terminal; in JSON format every event is one JSON object on its own line, with an
/// `"event"` field, and neither bars nor text tables are written.
struct EventLog {
  let console: Console
  let format: LogFormat
  let quiet: Bool

  /// An event: a line of text for people, or a JSON object with `event: name`.
  func event(_ name: String, _ fields: [String: Any], text: @autoclosure () -> String) {
    switch format {
    case .json:
      console.print(Self.jsonLine(fields.merging(["event": name]) { $1 }))
    case .text:
      if !quiet { console.print(text()) }
    }
  }

  /// A library's log entry, as ``event(_:_:text:)``.
  func entry(_ entry: LogEntry) {
    event(entry.name, entry.fields, text: entry.text)
  }

  /// Redraws the live progress bar (text format on a terminal only).
  func bar(_ line: @autoclosure () -> String) {
    if format == .text && !quiet && console.isTerminal { console.progress(line()) }
  }

  /// Results for people (tables): printed in text format, also when quiet.
  func result(_ text: String) {
    if format == .text { console.print(text) }
  }

  /// `object` as compact JSON with sorted keys; non-finite numbers become `null`.
  static func jsonLine(_ object: [String: Any]) -> String {
    let data = (try? JSONOutput.data(object, pretty: false)) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
  }
}
