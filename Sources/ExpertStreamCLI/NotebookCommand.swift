// Re-exported: the command module's clients (its tests among them) use `Notebook` as
// before it moved into the library.
import Reports

/// `expertstream notebook check FILE...`: re-runs the runnable blocks of markdown notebooks
/// and compares their output with the recorded one.
struct NotebookCheckCommand: Command {
  static let configuration = CommandConfiguration(
    name: "notebook check",
    summary: "Re-run the runnable blocks of markdown notebooks and compare their output.",
    usage: ["notebook check FILE... [--update]"],
    options: [
      .flag(
        "--update",
        "Write each failing block's new output into the notebook instead of failing "
          + "(then mark varying parts with [...] by hand)."),
      .flag("--quiet", "Print only failures and the final count."),
    ],
    examples: ["expertstream notebook check notebooks-md/*.md"],
    positionals: 1...10_000)

  let paths: [String]
  let update: Bool
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    paths = arguments.positionals
    update = arguments.flag("--update")
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    let notebooks = try paths.map { try Notebook(path: $0) }
    var counts = Notebook.CheckCounts()
    for notebook in notebooks {
      counts += try notebook.check(updating: update) { block in
        if !(quiet && block.passed) { console.print(block.description) }
      }
    }
    console.print(
      "\(notebooks.count) notebook(s), \(counts.total) checked block(s): \(counts.passed) passed, "
        + "\(counts.failed) failed" + (update ? ", \(counts.updated) updated" : ""))
    if counts.failed > 0 {
      throw NotebookCheckFailure(count: counts.failed)
    }
  }
}

extension NotebookError: UserInputError {}

/// Runnable blocks whose output no longer matches: exit status 1.
struct NotebookCheckFailure: Error, CustomStringConvertible {
  let count: Int
  var description: String {
    "\(count) notebook block(s) failed; re-run with --update to record the new output"
  }
}
