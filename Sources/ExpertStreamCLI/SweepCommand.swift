import Checkpoints
import Continual
import Foundation
import Reports
import Sweeps
import TensorCore

extension SweepError: UserInputError {}

/// `expertstream sweep FILE`: a grid of runs, in one process or over MPI ranks.
struct SweepCommand: Command {
  static let configuration = CommandConfiguration(
    name: "sweep",
    summary: "Run a grid of seeds × methods or policies × scenario fields (in one process, "
      + "or over the ranks of mpirun/srun); resumable.",
    usage: [
      "sweep FILE [--out DIR] [--log-dir DIR] [--dry-run] [--data-dir DIR] [--threads T] [--numerics MODE] [--quiet]",
      "mpirun -np N expertstream sweep FILE [--out DIR]",
    ],
    options: [
      .option("--out", "DIR", "Output directory (default: checkpoints/sweeps/<sweep name>)."),
      .option(
        "--log-dir", "DIR",
        "Also write TensorBoard event files as the continual runs train, in DIR/<run id> "
          + "(default: the scenario's checkpoint.log_dir, if any)."),
      .flag("--dry-run", "Validate the file and list the runs and their ids; run nothing."),
      .option(
        "--data-dir", "DIR",
        "Where to look for the datasets first (in a sweep of several, for those it holds)."),
      .option(
        "--threads", "T", "Engine threads per process (default: cores ÷ ranks on this node)."),
      .numerics,
      .flag("--quiet", "Print only the summary."),
    ],
    examples: [
      "expertstream sweep tasks/sweep-quick.json --dry-run",
      "expertstream sweep tasks/sweep-quick.json --out /tmp/sweep-quick",
      "mpirun -np 2 expertstream sweep tasks/sweep-paper-fashion-mnist.json",
    ],
    positionals: 1...1)

  let path: String
  let output: String?
  let logDirectory: String?
  let dryRun: Bool
  let dataDirectory: String?
  let threads: Int?
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    output = arguments.value("--out")
    logDirectory = arguments.value("--log-dir")
    dryRun = arguments.flag("--dry-run")
    dataDirectory = arguments.value("--data-dir")
    threads = try arguments.integer("--threads", in: 1...1024)
    try arguments.selectNumerics()
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    let plan = try SweepPlan.load(path)
    let directory = output ?? "checkpoints/sweeps/\(plan.name)"
    if dryRun {
      printPlan(plan, directory: directory, console)
      return
    }
    let group = try ProcessGroup.start()
    defer { group.finish() }
    Compute.threads =
      threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / group.localSize)
    let runner: SweepRunner
    do {
      runner = try SweepRunner(
        plan: plan, directory: directory, dataDirectory: dataDirectory, group: group)
    } catch let error as FileSystemError {
      throw UnusablePathError(problem: error.description, hint: "choose another --out DIR")
    }
    let started = Date()
    let prefix = group.size > 1 ? "[rank \(group.rank)] " : ""
    let total = plan.runs.count
    let tensorBoard = TensorBoardLog(directory: logDirectory)
    let summary = try runner.run { event in
      do {
        try tensorBoard.record(event)
      } catch {
        console.printError("\(prefix)error: the TensorBoard log stops: \(error)")
      }
      switch event {
      case .started(let runs, let finished, let processes):
        console.print(
          "\(plan.name): \(runs) runs (\(finished) already finished) in \(directory), "
            + "\(processes) process(es) × \(Compute.threads) thread(s)")
      case .runStarted(let run) where !quiet:
        console.print("\(prefix)run \(run.index + 1)/\(total) \(run.id): started")
      case .note(let text):
        console.print(prefix + text)
      case .runEnded(let run, let record) where !quiet:
        console.print("\(prefix)run \(run.index + 1)/\(total) \(run.id): \(record.outcome)")
      case .stored(let done, let total, let elapsed, let remaining) where !quiet:
        console.print(
          "\(done)/\(total) runs done, \(RunCommand.duration(elapsed)) elapsed, "
            + "ETA \(RunCommand.duration(remaining))")
      case .aborting(let error):
        console.printError("error: \(error)")
      default:
        break
      }
    }
    guard let summary else { return }
    try summary.write(to: directory)
    console.print("")
    console.print(summary.table)
    let failed = summary.failedCount
    console.print(
      "results in \(directory)/results.jsonl, summary in \(directory)/summary.md; "
        + String(format: "%.1f s", Date().timeIntervalSince(started))
        + (failed > 0 ? "; \(failed) run(s) failed" : ""))
    try summary.checkNoneFailed(directory: directory)
  }

  private func printPlan(_ plan: SweepPlan, directory: String, _ console: Console) {
    console.print(
      "\(plan.name): \(plan.runs.count) runs of \(plan.scenarioPath) (\(plan.mode)), "
        + "output \(directory)")
    console.print(formatTable(plan.table))
  }
}
