import Foundation

/// A markdown notebook: prose and fenced blocks, some of them marked runnable.
///
/// A runnable block has `runnable` in its info string and holds one command after `$ `
/// (continued over lines ending in `\`), then the output the command printed:
///
/// ````
/// ```console runnable
/// $ expertstream scenario check tasks/quick.json
/// quick: 3 tasks × 2 classes
/// total [...] s
/// ```
/// ````
///
/// Output that differs between runs is marked as varying: `[...]` inside a line matches any
/// text, and a line that is only `[...]` matches any number of lines. `exit=N` in the info
/// string expects exit status N instead of 0. A block with `file=PATH` in its info string
/// (a source listing) must equal that file, relative to the working directory.
/// ``check(updating:onBlock:)`` re-runs the runnable blocks and compares the listings.
public struct Notebook {
  /// One fenced block.
  public struct Block {
    /// The 1-based line of the opening fence.
    public var line: Int
    /// The words of the info string after the fence.
    public var info: [String]
    /// The lines between the fences.
    public var body: [String]

    /// Whether the block is marked runnable.
    public var isRunnable: Bool { info.contains("runnable") }

    /// The value of a `key=value` word of the info string.
    public func attribute(_ key: String) -> String? {
      info.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// The command (without `$ `, continuation lines joined) and the recorded output.
    public var commandAndOutput: (command: String, output: [String])? {
      guard let first = body.first, first.hasPrefix("$ ") else { return nil }
      var command = String(first.dropFirst(2))
      var index = 1
      while command.hasSuffix("\\"), index < body.count {
        command = String(command.dropLast()) + "\n" + body[index]
        index += 1
      }
      return (command, Array(body[index...]))
    }
  }

  /// The notebook's path.
  public var path: String
  /// Every fenced block, in order.
  public var blocks: [Block]

  /// Reads the notebook at `path`.
  ///
  /// - Throws: ``NotebookError`` when the file cannot be read or a fence is not closed.
  public init(path: String) throws {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw NotebookError(path: path, line: nil, message: "cannot read the file")
    }
    try self.init(path: path, text: text)
  }

  /// Parses `text` as the notebook at `path`.
  public init(path: String, text: String) throws {
    self.path = path
    blocks = []
    var open: Block?
    var fence = ""
    for (index, line) in text.components(separatedBy: "\n").enumerated() {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if var block = open {
        if trimmed == fence {
          blocks.append(block)
          open = nil
        } else {
          block.body.append(line)
          open = block
        }
      } else if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
        fence = String(trimmed.prefix { $0 == trimmed.first })
        let info = trimmed.dropFirst(fence.count).split(separator: " ").map(String.init)
        open = Block(line: index + 1, info: info, body: [])
      }
    }
    if let open {
      throw NotebookError(path: path, line: open.line, message: "code fence is never closed")
    }
  }

  /// Whether `actual` output matches the recorded `expected` lines, with `[...]` marking
  /// varying text within a line and a `[...]` line matching any number of lines. Trailing
  /// spaces and trailing empty lines are ignored.
  public static func matches(_ expected: [String], _ actual: [String]) -> Bool {
    let expected = trimmed(expected)
    let actual = trimmed(actual)
    // Dynamic programming over (expected line, actual line).
    var reachable = Array(
      repeating: Array(repeating: false, count: actual.count + 1), count: expected.count + 1)
    reachable[0][0] = true
    for i in 0...expected.count {
      for j in 0...actual.count where reachable[i][j] {
        guard i < expected.count else { continue }
        if expected[i] == varying {
          reachable[i + 1][j] = true
          if j < actual.count { reachable[i][j + 1] = true }
        } else if j < actual.count, lineMatches(expected[i], actual[j]) {
          reachable[i + 1][j + 1] = true
        }
      }
    }
    return reachable[expected.count][actual.count]
  }

  /// The marker of varying output.
  public static let varying = "[...]"

  /// Whether `line` matches `pattern`, each `[...]` in it matching any text.
  static func lineMatches(_ pattern: String, _ line: String) -> Bool {
    let parts = pattern.components(separatedBy: varying)
    guard parts.count > 1 else { return pattern == line }
    var rest = Substring(line)
    guard rest.hasPrefix(parts[0]) else { return false }
    rest = rest.dropFirst(parts[0].count)
    for (index, part) in parts.enumerated().dropFirst() {
      if index == parts.count - 1 { return rest.hasSuffix(part) }
      guard let found = rest.range(of: part) else { return false }
      rest = rest[found.upperBound...]
    }
    return true
  }

  /// `lines` without trailing spaces and tabs, and without trailing empty lines.
  static func trimmed(_ lines: [String]) -> [String] {
    var lines = lines.map { line in
      var line = line
      while line.last == " " || line.last == "\t" { line.removeLast() }
      return line
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    return lines
  }
}

/// A notebook that cannot be read or parsed, or a runnable block without a command.
public struct NotebookError: Error, CustomStringConvertible {
  /// The notebook's path.
  public var path: String
  /// The 1-based line of the block at fault, `nil` for the whole file.
  public var line: Int?
  /// What is wrong.
  public var message: String

  public var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(message)" }
}
