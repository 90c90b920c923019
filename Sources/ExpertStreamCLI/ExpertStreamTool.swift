import Datasets
import Experiments
import Foundation

/// The `expertstream` command-line tool: finds the subcommand, parses, validates, runs,
/// and maps errors to exit codes (0 success, 1 failure, 2 usage or input error).
public enum ExpertStreamTool {
  /// Every subcommand, by the words that invoke it.
  public static let commands: [any Command.Type] = [
    RunCommand.self, SweepCommand.self, InspectCommand.self, ReportCommand.self,
    DataListCommand.self,
    DataFetchCommand.self,
    ScenarioCheckCommand.self, NotebookCheckCommand.self,
    BenchOpsCommand.self, BenchMoECommand.self, BenchTrainCommand.self, BenchTasksCommand.self,
    BenchGradientsCommand.self,
  ]

  /// Runs the tool on `arguments` (without the program name) and returns the exit code.
  ///
  /// A program of its own registers its expert kinds and policies
  /// (`ExpertKind.register(_:make:)`, `PolicyName.register(_:)`), then hands its arguments
  /// here: every subcommand then accepts the registered names.
  public static func main(_ arguments: [String], console: Console = .standard()) -> Int32 {
    do {
      guard let first = arguments.first, first != "--help", first != "-h", first != "help"
      else {
        console.print(overview)
        return arguments.isEmpty ? 2 : 0
      }
      if first == "--version" {
        console.print("expertstream \(ExpertStreamVersion.current)")
        return 0
      }
      let (command, rest) = try resolve(arguments)
      let parsed = try ParsedArguments(rest, for: command.configuration)
      if parsed.wantsHelp {
        console.print(command.configuration.help)
        return 0
      }
      try command.init(parsed).run(console)
      return 0
    } catch let request as HelpRequest {
      console.print(request.text)
      return 0
    } catch let error as UsageError {
      console.printError(error.description)
      return 2
    } catch let error as any UserInputError {
      console.printError("error: \(error.description)")
      return 2
    } catch {
      console.printError("error: \(describeError(error))")
      return 1
    }
  }

  /// The command the leading words name, and the arguments after those words.
  static func resolve(_ arguments: [String]) throws -> (any Command.Type, [String]) {
    let words = arguments.prefix { !$0.hasPrefix("-") }
    for length in stride(from: words.count, through: 1, by: -1) {
      let name = words.prefix(length).joined(separator: " ")
      if let command = commands.first(where: { $0.configuration.name == name }) {
        return (command, Array(arguments.dropFirst(length)))
      }
    }
    let group = arguments[0]
    let members = commands.map { $0.configuration.name }.filter { $0.hasPrefix(group + " ") }
    if !members.isEmpty {
      let given =
        arguments.count > 1
        ? "unknown subcommand '\(arguments[1])' of '\(group)'" : "'\(group)' needs a subcommand"
      if arguments.count > 1, arguments[1] == "--help" || arguments[1] == "-h" {
        throw HelpRequest(text: groupHelp(group, members: members))
      }
      throw UsageError(
        given, hint: "one of: " + members.map { "'expertstream \($0)'" }.joined(separator: ", "))
    }
    let groups = Set(commands.map { String($0.configuration.name.split(separator: " ")[0]) })
    throw UsageError(
      "unknown command '\(group)'",
      hint: suggestion(for: group, among: groups.sorted())
        + "run 'expertstream --help' for the commands")
  }

  /// The words before a subcommand's own, such as `"bench"`: every group of subcommands.
  static var subcommandGroups: [String] {
    var seen: [String] = []
    for command in commands {
      let words = command.configuration.name.split(separator: " ")
      if words.count > 1, !seen.contains(String(words[0])) { seen.append(String(words[0])) }
    }
    return seen
  }

  /// `expertstream GROUP --help`: the group's usage line, then each subcommand's summary.
  static func groupHelp(_ group: String, members: [String]) -> String {
    let lines = commands.filter { members.contains($0.configuration.name) }.map {
      "  expertstream \($0.configuration.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \($0.configuration.summary)"
    }
    return
      ([
        "Usage:", "  expertstream \(group) SUBCOMMAND [OPTIONS]", "", "Subcommands:",
      ] + lines + [
        "", "Run 'expertstream \(group) SUBCOMMAND --help' for its options.",
      ]).joined(separator: "\n")
  }

  /// The top-level help.
  static var overview: String {
    var lines = [
      "expertstream \(ExpertStreamVersion.current): "
        + "continual-learning research with Mixture-of-Experts", "",
      "Usage: expertstream COMMAND [OPTIONS]", "", "Commands:",
    ]
    lines += commands.map {
      "  \($0.configuration.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \($0.configuration.summary)"
    }
    lines += ["", "Run 'expertstream COMMAND --help' for a command's options and an example."]
    return lines.joined(separator: "\n")
  }
}

/// `expertstream GROUP --help`: not an error, handled by printing the group's help.
struct HelpRequest: Error, CustomStringConvertible {
  let text: String
  var description: String { text }
}
