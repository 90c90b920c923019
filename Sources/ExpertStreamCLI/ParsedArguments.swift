import TensorCore

/// The command line of one command, checked against its ``CommandConfiguration``.
///
/// Accepts `--name value`, `--name=value`, flags, and `--` before positionals that start
/// with a dash. Unknown options are errors, with the closest known option as a hint.
public struct ParsedArguments {
  /// Arguments that are not options, in order.
  public private(set) var positionals: [String] = []
  private var values: [String: [String]] = [:]
  private let configuration: CommandConfiguration
  /// Whether `--help` or `-h` was given.
  public private(set) var wantsHelp = false

  /// Parses `arguments` (without the command's own words).
  ///
  /// - Throws: ``UsageError`` for an unknown option, a missing value, an option given
  ///   twice, or a wrong number of positionals.
  public init(_ arguments: [String], for configuration: CommandConfiguration) throws {
    self.configuration = configuration
    var remaining = arguments[...]
    var onlyPositionals = false
    while let argument = remaining.popFirst() {
      if onlyPositionals || !argument.hasPrefix("-") || argument == "-" {
        positionals.append(argument)
        continue
      }
      if argument == "--" {
        onlyPositionals = true
        continue
      }
      if argument == "--help" || argument == "-h" {
        wantsHelp = true
        continue
      }
      let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
      let name = parts[0]
      guard let definition = configuration.options.first(where: { $0.name == name }) else {
        throw UsageError(
          "unknown option '\(name)' for 'expertstream \(configuration.name)'",
          hint: suggestion(for: name, among: configuration.options.map(\.name))
            + "run 'expertstream \(configuration.name) --help' for its options")
      }
      let value: String
      if definition.valueName == nil {
        guard parts.count == 1 else {
          throw UsageError(
            "option '\(name)' is a flag and takes no value", hint: "write '\(name)' alone")
        }
        value = "true"
      } else if parts.count == 2 {
        value = parts[1]
      } else if let next = remaining.popFirst() {
        value = next
      } else {
        throw UsageError(
          "option '\(name)' needs a value", hint: "write '\(definition.signature)'")
      }
      if values[name] != nil && !definition.repeatable {
        throw UsageError(
          "option '\(name)' was given more than once", hint: "give '\(name)' once")
      }
      values[name, default: []].append(value)
    }
    if wantsHelp { return }
    let range = configuration.positionals
    guard range.contains(positionals.count) else {
      let expected =
        range.lowerBound == range.upperBound
        ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
      throw UsageError(
        "'expertstream \(configuration.name)' takes \(expected) argument(s), got \(positionals.count)"
          + (positionals.isEmpty ? "" : ": \(positionals.joined(separator: " "))"),
        hint: "usage: expertstream \(configuration.usage.first ?? configuration.name)")
    }
  }

  /// Whether a flag was given.
  public func flag(_ name: String) -> Bool { values[name] != nil }

  /// The value of an option given once, or `nil`.
  public func value(_ name: String) -> String? { values[name]?.last }

  /// Every value of a repeatable option, in order.
  public func allValues(_ name: String) -> [String] { values[name] ?? [] }

  /// The value of an option parsed as an integer within `range`.
  ///
  /// - Throws: ``UsageError`` naming the option and the value when it is not such an
  ///   integer.
  public func integer(_ name: String, in range: ClosedRange<Int> = 1...Int.max) throws -> Int? {
    guard let text = value(name) else { return nil }
    guard let number = Int(text), range.contains(number) else {
      let bounds =
        range.upperBound == Int.max
        ? "an integer ≥ \(range.lowerBound)"
        : "an integer from \(range.lowerBound) to \(range.upperBound)"
      throw UsageError(
        "option '\(name)' expects \(bounds), got '\(text)'",
        hint: "for example '\(name) \(range.lowerBound)'")
    }
    return number
  }

  /// Chooses the process's numerics from `--numerics` (or `EXPERTSTREAM_NUMERICS`) before
  /// any tensor work.
  ///
  /// - Throws: ``UsageError`` for an unknown mode, in the option or the variable.
  public func selectNumerics() throws {
    if let mode = try choice("--numerics", from: Numerics.allCases.map(\.rawValue)) {
      try Numerics.select(Numerics(rawValue: mode)!)
    } else if let problem = Numerics.environmentError {
      throw UsageError(problem, hint: "set it to one of those, or unset it")
    }
  }

  /// The value of an option that must be one of `choices`.
  ///
  /// - Throws: ``UsageError`` listing the choices.
  public func choice(_ name: String, from choices: [String]) throws -> String? {
    guard let text = value(name) else { return nil }
    guard choices.contains(text) else {
      throw UsageError(
        "option '\(name)' expects one of \(choices.joined(separator: ", ")), got '\(text)'",
        hint: suggestion(for: text, among: choices) + "choose one of the listed values")
    }
    return text
  }

  /// The case of `Choice` option `name` names, or `nil` when it is absent.
  ///
  /// - Throws: ``UsageError`` for a value that names no case (with 'did you mean').
  public func choice<Choice: RawRepresentable & CaseIterable>(
    _ name: String, from choices: [Choice] = Array(Choice.allCases)
  ) throws -> Choice? where Choice.RawValue == String {
    try choice(name, from: choices.map(\.rawValue)).flatMap(Choice.init(rawValue:))
  }
}

/// "did you mean …?" for the closest candidate within two edits, or an empty string.
func suggestion(for word: String, among candidates: [String]) -> String {
  let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= 2 }
  guard let best = scored.min(by: { $0.1 < $1.1 }) else { return "" }
  return "did you mean '\(best.0)'? "
}

/// The Levenshtein distance between two strings.
func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a)
  let b = Array(b)
  var previous = Array(0...b.count)
  for i in 1...max(a.count, 1) where !a.isEmpty {
    var current = [i] + Array(repeating: 0, count: b.count)
    for j in 1...max(b.count, 1) where !b.isEmpty {
      current[j] = min(
        previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.count]
}
