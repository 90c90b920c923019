import Foundation

// What a scenario's `init(from:)` reads a field as: a value in a range, one of a list of
// names. The checks run on any decoder; the messages are those of ``ScenarioDecoder``.

extension Decoder {
  /// An error at this decoder's field.
  func error(_ message: String) -> ScenarioError {
    ScenarioError(at: codingPath, message)
  }

  /// The string.
  func string() throws -> String {
    try singleValueContainer().decode(String.self)
  }

  /// `true` or `false`.
  func bool() throws -> Bool {
    try singleValueContainer().decode(Bool.self)
  }

  /// A whole number in `range`.
  ///
  /// - Throws: for anything but a number with no fraction (booleans included), then for a
  ///   number outside `range`.
  func integer(in range: ClosedRange<Int>) throws -> Int {
    let integer = try singleValueContainer().decode(Int.self)
    guard range.contains(integer) else {
      throw ScenarioError.outOfRange(
        integer, range, file: "", path: ScenarioError.path(codingPath))
    }
    return integer
  }

  /// Whole numbers in `range`, each checked in turn.
  func integers(in range: ClosedRange<Int>) throws -> [Int] {
    var items = try unkeyedContainer()
    var integers: [Int] = []
    while !items.isAtEnd { integers.append(try items.superDecoder().integer(in: range)) }
    return integers
  }

  /// A finite number in `range`.
  func number(in range: ClosedRange<Double>) throws -> Double {
    let number = try singleValueContainer().decode(Double.self)
    guard number.isFinite, range.contains(number) else {
      throw ScenarioError.outOfRange(number, range, file: "", path: ScenarioError.path(codingPath))
    }
    return number
  }

  /// A string that is one of `allowed`.
  ///
  /// - Throws: naming the choices, and the closest one when the string is within two
  ///   edits of it: `'sofmax' is not one of softmax, attentive (did you mean 'softmax'?)`.
  func choice(_ allowed: [String]) throws -> String {
    let string = try string()
    guard allowed.contains(string) else {
      let hint = closest(string, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
      throw error("'\(string)' is not one of \(allowed.joined(separator: ", "))\(hint)")
    }
    return string
  }

  /// The case of `Choice` this string names (see ``choice(_:)``).
  func choice<Choice: RawRepresentable & CaseIterable>(_: Choice.Type) throws -> Choice
  where Choice.RawValue == String {
    Choice(rawValue: try choice(Choice.allCases.map(\.rawValue)))!
  }
}

extension KeyedDecodingContainer {
  /// The decoder of the member at `key`, or `nil` when the object has no such member.
  func field(_ key: Key) throws -> (any Decoder)? {
    contains(key) ? try superDecoder(forKey: key) : nil
  }

  /// The decoder of the member at `key`, or `nil` when it is absent or `null`.
  func nonNullField(_ key: Key) throws -> (any Decoder)? {
    guard contains(key), try !decodeNil(forKey: key) else { return nil }
    return try superDecoder(forKey: key)
  }

  /// The member at `key` decoded as `T`, or `nil` when the object has no such member
  /// (`null` is decoded, and is an error for most types).
  func value<T: Decodable>(_: T.Type, _ key: Key) throws -> T? {
    contains(key) ? try decode(T.self, forKey: key) : nil
  }

  /// An error at the member `key`.
  func error(_ message: String, at key: Key) -> ScenarioError {
    ScenarioError(at: codingPath + [key], message)
  }
}

// The choice enums read a string naming a case, with the error of `Decoder.choice(_:)`
// (`'sofmax' is not one of softmax, attentive (did you mean 'softmax'?)`).

extension ConfigurationChoice {
  /// The case the string names.
  ///
  /// - Throws: ``ScenarioError`` for a string that names no case, suggesting the closest.
  public init(from decoder: any Decoder) throws {
    self = try decoder.choice(Self.self)
  }
}

extension Scenario.Mode: ConfigurationChoice {}
extension Scenario.GateKind: ConfigurationChoice {}
extension Scenario.GateTraining: ConfigurationChoice {}
extension Scenario.ExpertGranularity: ConfigurationChoice {}
extension Scenario.OptimizerKind: ConfigurationChoice {}
extension Scenario.Evaluation: ConfigurationChoice {}
extension Scenario.EvaluationSplit: ConfigurationChoice {}

extension ExpertKind: Decodable {
  /// The kind the string names, one of ``known``.
  ///
  /// - Throws: ``ScenarioError`` for a name no kind has, suggesting the closest.
  public init(from decoder: any Decoder) throws {
    self.init(rawValue: try decoder.choice(Self.known.map(\.rawValue)))
  }
}

extension PolicyName: Decodable {
  /// The policy the string names, one of ``known``.
  ///
  /// - Throws: ``ScenarioError`` for a name no policy has, suggesting the closest.
  public init(from decoder: any Decoder) throws {
    self.init(rawValue: try decoder.choice(Self.known.map(\.rawValue)))
  }
}
