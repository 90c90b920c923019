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

  /// `file:LINE:COLUMN: path: message`, without the parts that are not known.
  public var description: String {
    let location = line.map { "\(file):\($0):\(column ?? 1)" } ?? file
    return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
  }
}

/// Walks a parsed JSON document, keeping the path so every error can name the field.
struct JSONReader {
  let file: String
  let path: String
  let value: Any

  func error(_ message: String) -> ScenarioError {
    ScenarioError(file: file, path: path, message: message)
  }

  func child(_ key: String, _ value: Any) -> JSONReader {
    JSONReader(file: file, path: path.isEmpty ? key : "\(path).\(key)", value: value)
  }

  /// The members of an object, after checking that every key is one of `allowed`.
  func object(allowed: [String]) throws -> [String: JSONReader] {
    guard let dictionary = value as? [String: Any] else {
      throw error("expected an object, found \(describe(value))")
    }
    var members: [String: JSONReader] = [:]
    for key in dictionary.keys.sorted() {
      guard allowed.contains(key) else {
        let hint = closest(key, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
        throw child(key, dictionary[key]!).error(
          "unknown key '\(key)'\(hint); allowed: \(allowed.joined(separator: ", "))")
      }
      members[key] = child(key, dictionary[key]!)
    }
    return members
  }

  func array() throws -> [JSONReader] {
    guard let items = value as? [Any] else {
      throw error("expected an array, found \(describe(value))")
    }
    return items.enumerated().map {
      JSONReader(file: file, path: "\(path)[\($0.offset)]", value: $0.element)
    }
  }

  var isNull: Bool { value is NSNull }

  func string() throws -> String {
    guard let string = value as? String else {
      throw error("expected a string, found \(describe(value))")
    }
    return string
  }

  func choice(_ allowed: [String]) throws -> String {
    let string = try string()
    guard allowed.contains(string) else {
      let hint = closest(string, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
      throw error("'\(string)' is not one of \(allowed.joined(separator: ", "))\(hint)")
    }
    return string
  }

  /// The case of `Choice` this string names.
  func choice<Choice: RawRepresentable & CaseIterable>(_: Choice.Type) throws -> Choice
  where Choice.RawValue == String {
    Choice(rawValue: try choice(Choice.allCases.map(\.rawValue)))!
  }

  func bool() throws -> Bool {
    guard let number = value as? NSNumber, isBoolean(number) else {
      throw error("expected true or false, found \(describe(value))")
    }
    return number.boolValue
  }

  func integer(in range: ClosedRange<Int>) throws -> Int {
    guard let number = value as? NSNumber, !isBoolean(number),
      let integer = Int(exactly: number.doubleValue)
    else {
      throw error("expected an integer, found \(describe(value))")
    }
    guard range.contains(integer) else {
      throw error("\(integer) is out of range \(range.lowerBound)...\(range.upperBound)")
    }
    return integer
  }

  func number(in range: ClosedRange<Double>) throws -> Double {
    guard let number = value as? NSNumber, !isBoolean(number) else {
      throw error("expected a number, found \(describe(value))")
    }
    let double = number.doubleValue
    guard double.isFinite, range.contains(double) else {
      throw error("\(double) is out of range \(range.lowerBound)...\(range.upperBound)")
    }
    return double
  }

  /// Booleans are NSNumbers of Objective-C type `c` (char), as JSONParser gives them.
  private func isBoolean(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
  }

  private func describe(_ value: Any) -> String {
    switch value {
    case is NSNull: return "null"
    case let number as NSNumber where isBoolean(number): return number.boolValue ? "true" : "false"
    case let number as NSNumber: return "the number \(number)"
    case let string as String: return "the string \"\(string)\""
    case is [Any]: return "an array"
    case is [String: Any]: return "an object"
    default: return "\(type(of: value))"
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
