import Datasets
import Foundation

/// A JSON text that could not be parsed: where, and why.
struct JSONParseError: Error {
  /// 1-based line and column (in characters) of the offending text.
  let line: Int
  let column: Int
  /// The JSON path of the duplicate key or out-of-range number; empty for a syntax error.
  let path: String
  /// What is wrong.
  let message: String
  /// Whether the text is valid JSON whose number does not fit an Int or a Double.
  let isNumberOutOfRange: Bool

  /// The error as a ``ScenarioError`` of `file`.
  func scenarioError(file: String) -> ScenarioError {
    ScenarioError(file: file, path: path, message: message, line: line, column: column)
  }
}

/// A JSON file read strictly: the scenario's and the sweep's reader.
public enum JSONFile {
  /// The bytes of the regular file at `path`.
  ///
  /// - Throws: ``ScenarioError`` with the system's reason (no such file, a directory, a
  ///   FIFO, permission denied).
  public static func contents(_ path: String) throws -> [UInt8] {
    do {
      return try readRegularFile(path)
    } catch {
      throw ScenarioError(file: path, path: "", message: "cannot read: \(error.reason)")
    }
  }

  /// The JSON value in the file at `path`, as Foundation values (`[String: Any]`, `[Any]`,
  /// `String`, `NSNumber`, `NSNull`).
  ///
  /// - Throws: ``ScenarioError``: the system's reason for an unreadable file; the line and
  ///   column of a syntax error, a key given twice or a number out of range.
  public static func read(_ path: String) throws -> Any {
    do {
      return try JSONParser.parse(Data(contents(path)))
    } catch let error as JSONParseError {
      throw error.scenarioError(file: path)
    }
  }
}

/// Parses JSON into the Foundation values JSONSerialization gives (`[String: Any]`, `[Any]`,
/// `String`, `NSNumber`, `NSNull`), more strictly and with positions in every error.
///
/// A key given twice in one object is an error naming both lines; an integer must fit an
/// Int and any other number a Double (`1e400` is an error, not infinity). Any value may be
/// the top-level one. Nesting deeper than ``maximumDepth`` is an error, so no input can
/// exhaust the stack.
struct JSONParser {
  /// The deepest nesting of arrays and objects accepted.
  static let maximumDepth = 256

  private let bytes: [UInt8]
  private var offset = 0
  private var path: [String] = []

  /// The value of the JSON text `data`.
  ///
  /// - Throws: ``JSONParseError`` with the line and column.
  static func parse(_ data: Data) throws(JSONParseError) -> Any {
    var parser = JSONParser(bytes: [UInt8](data))
    parser.skipWhitespace()
    let value = try parser.value(depth: 0)
    parser.skipWhitespace()
    guard parser.offset == parser.bytes.count else {
      throw parser.error("unexpected \(parser.found) after the JSON value")
    }
    return value
  }

  private init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  private var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

  /// The next character, for messages: `'x'` or `the end of the file`.
  private var found: String {
    guard offset < bytes.count else { return "the end of the file" }
    let end = bytes[offset...].indices.first { $0 > offset && bytes[$0] & 0xc0 != 0x80 }
    let character = String(decoding: bytes[offset..<(end ?? bytes.count)], as: UTF8.self)
    return "'\(character)'"
  }

  private var pathText: String {
    path.reduce("") { text, key in
      key.hasPrefix("[") || text.isEmpty ? text + key : text + "." + key
    }
  }

  private func position(of byteOffset: Int) -> (line: Int, column: Int) {
    let before = bytes[..<min(byteOffset, bytes.count)]
    let lineStart = (before.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
    let line = before.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    let column = String(decoding: bytes[lineStart..<before.endIndex], as: UTF8.self).count + 1
    return (line, column)
  }

  /// A syntax error at `byteOffset` (the current one by default).
  private func error(_ message: String, at byteOffset: Int? = nil) -> JSONParseError {
    let (line, column) = position(of: byteOffset ?? offset)
    return JSONParseError(
      line: line, column: column, path: "", message: "not valid JSON: \(message)",
      isNumberOutOfRange: false)
  }

  /// An error in the value at the current path, which starts at `byteOffset`.
  private func valueError(_ message: String, at byteOffset: Int, numberOutOfRange: Bool)
    -> JSONParseError
  {
    let (line, column) = position(of: byteOffset)
    return JSONParseError(
      line: line, column: column, path: pathText, message: message,
      isNumberOutOfRange: numberOutOfRange)
  }

  private mutating func skipWhitespace() {
    while let byte = current, [0x20, 0x09, 0x0a, 0x0d].contains(byte) { offset += 1 }
  }

  private mutating func value(depth: Int) throws(JSONParseError) -> Any {
    switch current {
    case UInt8(ascii: "{"):
      return try object(depth: depth + 1)
    case UInt8(ascii: "["):
      return try array(depth: depth + 1)
    case UInt8(ascii: "\""):
      return try string()
    case UInt8(ascii: "t"):
      try literal("true")
      return NSNumber(value: true)
    case UInt8(ascii: "f"):
      try literal("false")
      return NSNumber(value: false)
    case UInt8(ascii: "n"):
      try literal("null")
      return NSNull()
    case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte):
      return try number()
    default:
      throw error("expected a value, found \(found)")
    }
  }

  private mutating func literal(_ word: String) throws(JSONParseError) {
    let expected = Array(word.utf8)
    guard bytes[offset...].starts(with: expected) else {
      throw error("expected '\(word)', found \(found)")
    }
    offset += expected.count
  }

  private mutating func object(depth: Int) throws(JSONParseError) -> [String: Any] {
    guard depth <= Self.maximumDepth else {
      throw error("nested more than \(Self.maximumDepth) levels deep")
    }
    offset += 1
    var members: [String: Any] = [:]
    var keyOffsets: [String: Int] = [:]
    skipWhitespace()
    if current == UInt8(ascii: "}") {
      offset += 1
      return members
    }
    while true {
      guard current == UInt8(ascii: "\"") else {
        throw error("expected a key in double quotes, found \(found)")
      }
      let keyOffset = offset
      let key = try string()
      path.append(key)
      if let first = keyOffsets[key] {
        throw valueError(
          "duplicate key '\(key)' (first at line \(position(of: first).line), again at line "
            + "\(position(of: keyOffset).line)); keep one", at: keyOffset, numberOutOfRange: false)
      }
      keyOffsets[key] = keyOffset
      skipWhitespace()
      guard current == UInt8(ascii: ":") else {
        throw error("expected ':' after the key '\(key)', found \(found)")
      }
      offset += 1
      skipWhitespace()
      members[key] = try value(depth: depth)
      path.removeLast()
      skipWhitespace()
      switch current {
      case UInt8(ascii: ","):
        offset += 1
        skipWhitespace()
      case UInt8(ascii: "}"):
        offset += 1
        return members
      default:
        throw error("expected ',' or '}' after the value of '\(key)', found \(found)")
      }
    }
  }

  private mutating func array(depth: Int) throws(JSONParseError) -> [Any] {
    guard depth <= Self.maximumDepth else {
      throw error("nested more than \(Self.maximumDepth) levels deep")
    }
    offset += 1
    var items: [Any] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") {
      offset += 1
      return items
    }
    while true {
      path.append("[\(items.count)]")
      items.append(try value(depth: depth))
      path.removeLast()
      skipWhitespace()
      switch current {
      case UInt8(ascii: ","):
        offset += 1
        skipWhitespace()
      case UInt8(ascii: "]"):
        offset += 1
        return items
      default:
        throw error("expected ',' or ']' after an array item, found \(found)")
      }
    }
  }

  private mutating func string() throws(JSONParseError) -> String {
    let start = offset
    offset += 1
    var scalars = String.UnicodeScalarView()
    var plainStart = offset
    /// Appends the unescaped bytes since `plainStart`, which must be UTF-8.
    func flush(_ parser: JSONParser, upTo end: Int) throws(JSONParseError) {
      guard let text = String(validating: parser.bytes[plainStart..<end], as: UTF8.self) else {
        throw parser.error("the string is not valid UTF-8", at: plainStart)
      }
      scalars.append(contentsOf: text.unicodeScalars)
    }
    while true {
      guard let byte = current else {
        throw error("the string opened at line \(position(of: start).line) is never closed")
      }
      switch byte {
      case UInt8(ascii: "\""):
        try flush(self, upTo: offset)
        offset += 1
        return String(scalars)
      case UInt8(ascii: "\\"):
        try flush(self, upTo: offset)
        scalars.append(try escape())
        plainStart = offset
      case 0..<0x20:
        throw error("a control character inside a string; write it as an escape such as \\n")
      default:
        offset += 1
      }
    }
  }

  /// The character of the escape at `offset` (a backslash), moving past it.
  private mutating func escape() throws(JSONParseError) -> Unicode.Scalar {
    let start = offset
    offset += 1
    let simple: [UInt8: Unicode.Scalar] = [
      UInt8(ascii: "\""): "\"", UInt8(ascii: "\\"): "\\", UInt8(ascii: "/"): "/",
      UInt8(ascii: "b"): "\u{08}", UInt8(ascii: "f"): "\u{0c}", UInt8(ascii: "n"): "\n",
      UInt8(ascii: "r"): "\r", UInt8(ascii: "t"): "\t",
    ]
    if let byte = current, let scalar = simple[byte] {
      offset += 1
      return scalar
    }
    guard current == UInt8(ascii: "u") else {
      let character = current.map { String(UnicodeScalar($0)) } ?? ""
      throw error("unknown escape \\\(character) in a string", at: start)
    }
    offset += 1
    let high = try hexQuad(escapeStart: start)
    if (0xdc00...0xdfff).contains(high) {
      throw error("\\u escape of a lone low surrogate", at: start)
    }
    guard (0xd800...0xdbff).contains(high) else { return Unicode.Scalar(high)! }
    guard bytes[offset...].starts(with: Array("\\u".utf8)) else {
      throw error("\\u escape of a high surrogate without its low surrogate", at: start)
    }
    offset += 2
    let low = try hexQuad(escapeStart: start)
    guard (0xdc00...0xdfff).contains(low) else {
      throw error("\\u escape of a high surrogate without its low surrogate", at: start)
    }
    return Unicode.Scalar(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))!
  }

  private mutating func hexQuad(escapeStart: Int) throws(JSONParseError) -> UInt32 {
    guard offset + 4 <= bytes.count,
      let value = UInt32(String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self), radix: 16)
    else {
      throw error("a \\u escape needs four hex digits", at: escapeStart)
    }
    offset += 4
    return value
  }

  private mutating func number() throws(JSONParseError) -> NSNumber {
    let start = offset
    func digits(_ parser: inout JSONParser) -> Int {
      let first = parser.offset
      while let byte = parser.current, (0x30...0x39).contains(byte) { parser.offset += 1 }
      return parser.offset - first
    }
    if current == UInt8(ascii: "-") { offset += 1 }
    let integerStart = offset
    guard digits(&self) > 0 else { throw error("expected a digit, found \(found)") }
    if bytes[integerStart] == UInt8(ascii: "0"), offset - integerStart > 1 {
      throw error("a number must not start with 0", at: integerStart)
    }
    var isInteger = true
    if current == UInt8(ascii: ".") {
      offset += 1
      isInteger = false
      guard digits(&self) > 0 else {
        throw error("expected a digit after the decimal point, found \(found)")
      }
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      offset += 1
      isInteger = false
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
      guard digits(&self) > 0 else {
        throw error("expected a digit in the exponent, found \(found)")
      }
    }
    let text = String(decoding: bytes[start..<offset], as: UTF8.self)
    let shown = text.count > 24 ? "\(text.prefix(20))… (\(text.count) characters)" : text
    if isInteger {
      guard let integer = Int(text) else {
        throw valueError(
          "the number \(shown) is out of range for an Int (\(Int.min)...\(Int.max))", at: start,
          numberOutOfRange: true)
      }
      return NSNumber(value: integer)
    }
    guard let double = Double(text), double.isFinite else {
      throw valueError(
        "the number \(shown) is out of range for a Float (magnitude at most "
          + "\(Double.greatestFiniteMagnitude))", at: start, numberOutOfRange: true)
    }
    return NSNumber(value: double)
  }
}
