import Checkpoints
import Continual
import Foundation

extension Checkpoint.Summary {
  // MARK: - Text

  /// The summary as `expertstream inspect` prints it: file, versions, scenario, the experts'
  /// table, the accuracy matrices and each task's routing with its gate decomposition
  /// (numbers and a shaded map).
  ///
  /// With `task` (from 0) only that task's routing is shown, without the matrices; a task
  /// not finished shows none. Lines end in newlines but the last.
  public func text(task: Int? = nil) -> String {
    var lines = [
      "\(path): checkpoint format \(formatVersion), written by expertstream \(toolVersion)"
        + (numerics.map { ", numerics \($0)" } ?? ""),
      "policy \(policy), scenario hash \(scenarioHash)",
      "scenario: \(scenario)",
      "tasks: " + taskClasses.map { "\($0)" }.joined(separator: " ")
        + " (\(tasks.count) finished)",
      "",
    ]
    var rows = [
      ["expert", "kind", "parameters", "frozen", "spawned at", "frozen after", "classes"]
    ]
    for expert in experts {
      rows.append([
        expert.name, expert.kind, "\(expert.parameterCount)", expert.frozen ? "yes" : "no",
        "task \(expert.spawnedAtTask)", expert.frozenAtTask.map(Self.frozenAfter) ?? "-",
        "\(expert.classes)",
      ])
    }
    lines.append(formatTable(rows))
    if task == nil {
      lines += [
        "", "class-IL accuracy (%), row = after task, column = task:",
        Self.matrix(tasks.map(\.accuracyClassIL)), "task-IL accuracy (%):",
        Self.matrix(tasks.map(\.accuracyTaskIL)),
      ]
    }
    for record in tasks where task == nil || record.task == task {
      lines.append("")
      lines.append(
        String(
          format:
            "after task %d: usage entropy %.3f bits, class entropy %.3f bits, routing forgetting %.3f",
          record.task, record.usageEntropy, record.classEntropy, record.routingForgetting)
          + (record.routingAccuracy.map { String(format: ", routing accuracy %.1f %%", 100 * $0) }
            ?? ""))
      if !record.events.isEmpty { lines.append("  events: \(record.events)") }
      lines.append("  p(expert | class), shaded ' ░▒▓█' from 0 to 1:")
      let classes = record.decomposition.first?.count ?? 0
      var table = [["expert"] + (0..<classes).map { "\($0)" } + ["map"]]
      for (expert, row) in record.decomposition.enumerated() {
        table.append(
          ["\(expert)"] + row.map { String(format: "%.2f", $0) } + [row.map(Self.shade).joined()])
      }
      lines.append(
        formatTable(table).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }
    return lines.joined(separator: "\n")
  }

  /// An accuracy matrix in %, a row per finished task, blank cells for tasks not yet seen.
  private static func matrix(_ rows: [[Double]]) -> String {
    var table = [[""] + (0..<max(rows.count, 1)).map { "T\($0)" }]
    for (index, row) in rows.enumerated() {
      table.append(
        ["after T\(index)"] + row.map { String(format: "%.1f", 100 * $0) }
          + Array(repeating: "", count: rows.count - row.count))
    }
    return formatTable(table)
  }

  /// When an expert was frozen: after a task, or before the first (-1).
  private static func frozenAfter(_ task: Int) -> String {
    task < 0 ? "before task 0" : "task \(task)"
  }

  /// A probability as one of ' ░▒▓█', from 0 to 1.
  private static func shade(_ value: Double) -> String {
    let ramp = [" ", "░", "▒", "▓", "█"]
    return ramp[min(4, max(0, Int((value * 5).rounded(.down))))]
  }

  // MARK: - JSON

  /// The summary as `expertstream inspect --json` prints it: pretty-printed JSON with
  /// sorted keys, the scenario as an object and each task's accuracy and routing under
  /// `history`.
  ///
  /// With `task` (from 0) `history` holds only that task (none when it is not finished). A
  /// scenario that is not JSON appears as its text; missing numerics and routing accuracy
  /// as `null`.
  ///
  /// - Throws: the error of `JSONSerialization` (not expected: every value is JSON).
  public func json(task: Int? = nil) throws -> String {
    let object: [String: Any] = [
      "file": path, "format_version": formatVersion, "tool_version": toolVersion,
      "scenario_hash": scenarioHash, "policy": policy,
      "numerics": numerics ?? NSNull(),
      "scenario": (try? JSONSerialization.jsonObject(with: Data(scenario.utf8))) ?? scenario,
      "tasks": taskClasses,
      "experts": experts.map {
        [
          "name": $0.name, "kind": $0.kind, "parameters": $0.parameterCount, "frozen": $0.frozen,
          "spawned_at_task": $0.spawnedAtTask,
          "frozen_at_task": $0.frozenAtTask.map { $0 as Any } ?? NSNull(), "classes": $0.classes,
        ] as [String: Any]
      },
      "history": tasks.filter { task == nil || $0.task == task }.map {
        [
          "task": $0.task, "accuracy_task_il": $0.accuracyTaskIL,
          "accuracy_class_il": $0.accuracyClassIL, "decomposition": $0.decomposition,
          "usage_entropy": $0.usageEntropy, "class_entropy": $0.classEntropy,
          "routing_forgetting": $0.routingForgetting,
          "routing_accuracy": $0.routingAccuracy.map { $0 as Any } ?? NSNull(),
        ] as [String: Any]
      },
    ]
    return String(decoding: try JSONOutput.data(object, pretty: true), as: UTF8.self)
  }
}
