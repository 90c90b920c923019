import Checkpoints
import Reports

/// `expertstream inspect FILE`: a checkpoint's scenario, experts, accuracy and routing.
struct InspectCommand: Command {
  static let configuration = CommandConfiguration(
    name: "inspect",
    summary: "Show a checkpoint: scenario, experts, accuracy matrix and gate decompositions.",
    usage: ["inspect FILE [--task N] [--json]"],
    options: [
      .option("--task", "N", "Show only task N (tasks count from 0)."),
      .flag("--json", "Print the summary as JSON."),
    ],
    examples: ["expertstream inspect checkpoints/split-fashion-mnist/latest.h5 --task 4"],
    positionals: 1...1)

  let path: String
  let task: Int?
  let json: Bool

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    task = try arguments.integer("--task", in: 0...100_000)
    json = arguments.flag("--json")
  }

  func run(_ console: Console) throws {
    let summary = try Checkpoint.summary(of: path)
    if let task, task >= summary.tasks.count {
      throw UsageError(
        "--task \(task): the checkpoint holds \(summary.tasks.count) finished task(s)",
        hint: summary.tasks.isEmpty
          ? "it holds no finished task" : "give a task from 0 to \(summary.tasks.count - 1)")
    }
    console.print(json ? try summary.json(task: task) : summary.text(task: task))
  }
}
