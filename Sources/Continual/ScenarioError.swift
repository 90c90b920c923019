import Foundation

/// An error in a scenario (or sweep) file: the file, the JSON path of the bad field and
/// what was expected.
public struct ScenarioError: Error, CustomStringConvertible, Equatable {
  /// The file (or `--set` for a command-line override).
  public let file: String
  /// The JSON path, such as `split.groups[1][0]`; empty for the whole document.
  public let path: String
  /// What is wrong and what was expected.
  public let message: String
  /// The 1-based line of a syntax error (`nil` for errors in a field's value).
  public let line: Int?
  /// The 1-based column, in characters, of a syntax error.
  public let column: Int?

  /// An error at `path` in `file`, at `line` and `column` when the text itself is wrong.
  public init(file: String, path: String, message: String, line: Int? = nil, column: Int? = nil) {
    self.file = file
    self.path = path
    self.message = message
    self.line = line
    self.column = column
  }

  /// An error at the field `codingPath` of the file being decoded.
  ///
  /// The file is left empty: ``ScenarioDecoder`` names it when the error leaves the
  /// document.
  init(at codingPath: [any CodingKey], _ message: String) {
    self.init(file: "", path: Self.path(codingPath), message: message)
  }

  /// `value` is outside `range`: `-1 is out of range 0...10000`.
  ///
  /// The message is the one every range of a scenario field gives, so a value checked
  /// outside the decoder (a sweep's seed) reads the same.
  public static func outOfRange<Value: Comparable>(
    _ value: Value, _ range: ClosedRange<Value>, file: String, path: String
  ) -> ScenarioError {
    ScenarioError(
      file: file, path: path,
      message: "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
  }

  /// `file:LINE:COLUMN: path: message`, without the parts that are not known.
  public var description: String {
    let location = line.map { "\(file):\($0):\(column ?? 1)" } ?? file
    return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
  }

  /// The same error in `file`.
  func naming(_ file: String) -> ScenarioError {
    ScenarioError(file: file, path: path, message: message, line: line, column: column)
  }

  /// A coding path as the dotted key path errors print: `split.groups[1][0]`.
  static func path(_ codingPath: [any CodingKey]) -> String {
    codingPath.reduce(into: "") { text, key in
      if let index = key.intValue {
        text += "[\(index)]"
      } else {
        text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
      }
    }
  }
}

/// The candidate within edit distance 2 of `word`, if any.
func closest(_ word: String, in candidates: [String]) -> String? {
  func distance(_ a: [Character], _ b: [Character]) -> Int {
    var previous = Array(0...b.count)
    for (i, x) in a.enumerated() {
      var current = [i + 1]
      for (j, y) in b.enumerated() {
        current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
      }
      previous = current
    }
    return previous[b.count]
  }
  let scored = candidates.map { ($0, distance(Array(word), Array($0))) }
  guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
  return best.0
}
