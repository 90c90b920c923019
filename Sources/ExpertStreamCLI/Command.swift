import Foundation

/// One subcommand of `expertstream`, in the shape of swift-argument-parser: parse, then
/// validate (in the initialiser), then run.
///
/// Commands parse in-process, so tests run them without spawning the binary.
public protocol Command {
  /// The name, help text and options.
  static var configuration: CommandConfiguration { get }
  /// Validates parsed arguments; throws ``UsageError`` for anything wrong.
  init(_ arguments: ParsedArguments) throws
  /// Does the work, writing to `console`.
  func run(_ console: Console) throws
}

/// What `--help` shows for a command, and the options it accepts.
public struct CommandConfiguration {
  /// The words that invoke the command after `expertstream`, such as `"bench ops"`.
  public var name: String
  /// One line saying what it does.
  public var summary: String
  /// Usage lines, without the leading `expertstream`.
  public var usage: [String]
  /// The accepted options (`--help` is always accepted).
  public var options: [OptionDefinition]
  /// Example invocations, with a comment each.
  public var examples: [String]
  /// How many positional arguments it takes.
  public var positionals: ClosedRange<Int>

  public init(
    name: String, summary: String, usage: [String], options: [OptionDefinition] = [],
    examples: [String], positionals: ClosedRange<Int> = 0...0
  ) {
    self.name = name
    self.summary = summary
    self.usage = usage
    self.options = options
    self.examples = examples
    self.positionals = positionals
  }

  /// The full `--help` text.
  public var help: String {
    var lines = ["\(summary)", "", "Usage:"]
    lines += usage.map { "  expertstream \($0)" }
    if !options.isEmpty {
      lines += ["", "Options:"]
      let width = options.map { $0.signature.count }.max() ?? 0
      lines += options.map { option in
        "  \(option.signature.padding(toLength: width, withPad: " ", startingAt: 0))  \(option.help)"
      }
    }
    lines += [
      "  "
        + "--help".padding(
          toLength: max(options.map { $0.signature.count }.max() ?? 0, 6), withPad: " ",
          startingAt: 0) + "  Show this help."
    ]
    lines += ["", "Example:"] + examples.map { "  \($0)" }
    return lines.joined(separator: "\n")
  }
}

/// One `--name` option: a flag, or an option that takes a value.
public struct OptionDefinition {
  /// The option with its dashes, such as `"--threads"`.
  public var name: String
  /// The placeholder for its value, or `nil` for a flag.
  public var valueName: String?
  /// One line of help.
  public var help: String
  /// Whether it may be given more than once.
  public var repeatable: Bool

  /// An option that takes a value.
  public static func option(
    _ name: String, _ valueName: String, _ help: String, repeatable: Bool = false
  ) -> OptionDefinition {
    OptionDefinition(name: name, valueName: valueName, help: help, repeatable: repeatable)
  }

  /// A flag.
  public static func flag(_ name: String, _ help: String) -> OptionDefinition {
    OptionDefinition(name: name, valueName: nil, help: help, repeatable: false)
  }

  /// `--numerics portable|native`, for every command that trains or measures.
  public static let numerics = option(
    "--numerics", "MODE",
    "portable (default: the same results on every CPU) or native (this CPU's fastest "
      + "OpenBLAS kernels; results then depend on the CPU type). Also EXPERTSTREAM_NUMERICS.")

  var signature: String { valueName.map { "\(name) \($0)" } ?? name }
}

/// A mistake on the command line: exit code 2, the one thing that was wrong and a hint.
public struct UsageError: Error, CustomStringConvertible {
  /// What was wrong.
  public var message: String
  /// How to put it right.
  public var hint: String

  public init(_ message: String, hint: String) {
    self.message = message
    self.hint = hint
  }

  public var description: String { "error: \(message)\nhint: \(hint)" }
}

/// An error in something the user supplied (a scenario, a dataset file, a checkpoint):
/// reported with exit code 2 like a usage error.
public protocol UserInputError: Error, CustomStringConvertible {}
