import Checkpoints
import Continual
import Foundation

/// `expertstream inspect FILE`: a checkpoint's scenario, experts, accuracy and routing.
struct InspectCommand: Command {
  static let configuration = CommandConfiguration(
    name: "inspect",
    summary: "Show a checkpoint: scenario, experts, accuracy matrix and gate decompositions.",
    usage: ["inspect FILE [--task N] [--json]"],
    options: [
      .option("--task", "N", "Show only task N (from 1)."),
      .flag("--json", "Print the summary as JSON."),
    ],
    examples: ["expertstream inspect checkpoints/split-fashion-mnist/latest.h5 --task 5"],
    positionals: 1...1)

  let path: String
  let task: Int?
  let json: Bool

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    task = try arguments.integer("--task", in: 1...100_000)
    json = arguments.flag("--json")
  }

  func run(_ console: Console) throws {
    let summary = try Checkpoint.summary(of: path)
    if let task, task > summary.tasks.count {
      throw UsageError(
        "--task \(task): the checkpoint holds \(summary.tasks.count) finished task(s)",
        hint: "give a task between 1 and \(summary.tasks.count)")
    }
    let tasks = summary.tasks.filter { task == nil || $0.task == task! - 1 }
    if json {
      let object: [String: Any] = [
        "file": path, "format_version": summary.formatVersion, "tool_version": summary.toolVersion,
        "scenario_hash": summary.scenarioHash, "policy": summary.policy,
        "numerics": summary.numerics ?? NSNull(),
        "scenario": (try? JSONSerialization.jsonObject(with: Data(summary.scenario.utf8)))
          ?? summary.scenario,
        "tasks": summary.taskClasses,
        "experts": summary.experts.map {
          [
            "name": $0.name, "kind": $0.kind, "parameters": $0.parameterCount, "frozen": $0.frozen,
            "spawned_at_task": $0.spawnedAtTask,
            "frozen_at_task": $0.frozenAtTask.map { $0 as Any } ?? NSNull(), "classes": $0.classes,
          ] as [String: Any]
        },
        "history": tasks.map {
          [
            "task": $0.task, "accuracy_task_il": $0.accuracyTaskIL,
            "accuracy_class_il": $0.accuracyClassIL, "decomposition": $0.decomposition,
            "usage_entropy": $0.usageEntropy, "class_entropy": $0.classEntropy,
            "routing_forgetting": $0.routingForgetting,
            "routing_accuracy": $0.routingAccuracy.map { $0 as Any } ?? NSNull(),
          ] as [String: Any]
        },
      ]
      let data = try JSONOutput.data(object, pretty: true)
      console.print(String(decoding: data, as: UTF8.self))
      return
    }
    console.print(
      "\(path): checkpoint format \(summary.formatVersion), written by expertstream \(summary.toolVersion)"
        + (summary.numerics.map { ", numerics \($0)" } ?? "")
    )
    console.print("policy \(summary.policy), scenario hash \(summary.scenarioHash)")
    console.print("scenario: \(summary.scenario)")
    console.print(
      "tasks: " + summary.taskClasses.map { "\($0)" }.joined(separator: " ")
        + " (\(summary.tasks.count) finished)")
    console.print("")
    var rows = [
      ["expert", "kind", "parameters", "frozen", "spawned at", "frozen after", "classes"]
    ]
    for expert in summary.experts {
      rows.append([
        expert.name, expert.kind, "\(expert.parameterCount)", expert.frozen ? "yes" : "no",
        "task \(expert.spawnedAtTask + 1)", expert.frozenAtTask.map { "task \($0 + 1)" } ?? "-",
        "\(expert.classes)",
      ])
    }
    console.print(formatTable(rows))
    if task == nil {
      console.print("")
      console.print("class-IL accuracy (%), row = after task, column = task:")
      console.print(matrix(summary.tasks.map(\.accuracyClassIL)))
      console.print("task-IL accuracy (%):")
      console.print(matrix(summary.tasks.map(\.accuracyTaskIL)))
    }
    for record in tasks {
      console.print("")
      console.print(
        String(
          format:
            "after task %d: usage entropy %.3f bits, class entropy %.3f bits, routing forgetting %.3f",
          record.task + 1, record.usageEntropy, record.classEntropy, record.routingForgetting)
          + (record.routingAccuracy.map { String(format: ", routing accuracy %.1f %%", 100 * $0) }
            ?? ""))
      if !record.events.isEmpty { console.print("  events: \(record.events)") }
      console.print("  p(expert | class), shaded ' ░▒▓█' from 0 to 1:")
      let classes = record.decomposition.first?.count ?? 0
      var table = [["expert"] + (0..<classes).map { "\($0)" } + ["map"]]
      for (expert, row) in record.decomposition.enumerated() {
        table.append(
          ["\(expert)"] + row.map { String(format: "%.2f", $0) } + [row.map(shade).joined()])
      }
      console.print(
        formatTable(table).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }
  }

  private func matrix(_ rows: [[Double]]) -> String {
    var table = [[""] + (1...max(rows.count, 1)).map { "T\($0)" }]
    for (index, row) in rows.enumerated() {
      table.append(
        ["after T\(index + 1)"] + row.map { String(format: "%.1f", 100 * $0) }
          + Array(repeating: "", count: rows.count - row.count))
    }
    return formatTable(table)
  }

  private func shade(_ value: Double) -> String {
    let ramp = [" ", "░", "▒", "▓", "█"]
    return ramp[min(4, max(0, Int((value * 5).rounded(.down))))]
  }
}
