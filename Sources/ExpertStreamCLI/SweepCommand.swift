import Checkpoints
import Continual
import Datasets
import Experiments
import Foundation
import MoE
import NN
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
      "sweep FILE [--out DIR] [--dry-run] [--data-dir DIR] [--threads T] [--numerics MODE] [--quiet]",
      "mpirun -np N expertstream sweep FILE [--out DIR]",
    ],
    options: [
      .option("--out", "DIR", "Output directory (default: checkpoints/sweeps/<sweep name>)."),
      .flag("--dry-run", "Validate the file and list the runs and their ids; run nothing."),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
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
  let dryRun: Bool
  let dataDirectory: String?
  let threads: Int?
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    output = arguments.value("--out")
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
    let store: SweepStore
    do {
      store = try SweepStore(directory: directory, runs: plan.runs)
    } catch let error as FileSystemError {
      throw UnusablePathError(problem: error.description, hint: "choose another --out DIR")
    }
    // Rank 0 takes the lock and tells every rank whether to go on.
    var lockError: Error?
    if group.rank == 0 {
      do { try store.lock() } catch { lockError = error }
    }
    guard group.broadcast(lockError == nil ? 1 : 0) == 1 else {
      if let lockError { throw lockError }
      return
    }
    let pending = plan.runs.indices.filter { !store.isFinished(plan.runs[$0]) }
    let started = Date()
    let prefix = group.size > 1 ? "[rank \(group.rank)] " : ""
    if group.rank == 0 {
      console.print(
        "\(plan.name): \(plan.runs.count) runs (\(plan.runs.count - pending.count) already "
          + "finished) in \(directory), \(group.size) process(es) × \(Compute.threads) thread(s)")
    }
    var datasets: [String: (train: Dataset, test: Dataset)] = [:]
    var finishedHere = 0
    let queue = SweepQueue(runs: plan.runs, group: group)
    do {
      try runQueue()
    } catch {
      if group.size > 1 {
        // The other ranks would wait for this one forever: end the job.
        console.printError("error: \(error)")
        group.abort(code: 1)
      }
      throw error
    }
    func runQueue() throws {
      try queue.run(
        pending: pending,
        execute: { run, service in
          if !quiet {
            console.print("\(prefix)run \(run.index + 1)/\(plan.runs.count) \(run.id): started")
          }
          let record = execute(
            run, plan: plan, directory: store.directory(of: run), datasets: &datasets,
            note: { console.print(prefix + $0) }, service: service)
          if !quiet {
            console.print(prefix + Self.outcome(of: run, record, total: plan.runs.count))
          }
          return record
        },
        store: { run, record in
          try store.store(record, for: run)
          finishedHere += 1
          if !quiet && group.rank == 0 {
            let elapsed = Date().timeIntervalSince(started)
            let left = elapsed / Double(finishedHere) * Double(pending.count - finishedHere)
            console.print(
              "\(finishedHere + plan.runs.count - pending.count)/\(plan.runs.count) runs done, "
                + "\(RunCommand.duration(elapsed)) elapsed, ETA \(RunCommand.duration(left))")
          }
        })
    }
    guard group.rank == 0 else { return }
    let summary = SweepSummary(plan: plan, records: store.records())
    try summary.write(to: directory)
    console.print("")
    console.print(summary.table)
    let failed = summary.failedCount
    console.print(
      "results in \(directory)/results.jsonl, summary in \(directory)/summary.md; "
        + String(format: "%.1f s", Date().timeIntervalSince(started))
        + (failed > 0 ? "; \(failed) run(s) failed" : ""))
    guard failed == 0 else {
      throw SweepFailedError(
        failed: summary.records.filter { $0["status"] as? String == "failed" }
          .compactMap { $0["run_id"] as? String },
        runs: plan.runs.count, directory: directory)
    }
  }

  private func printPlan(_ plan: SweepPlan, directory: String, _ console: Console) {
    console.print(
      "\(plan.name): \(plan.runs.count) runs of \(plan.scenarioPath) (\(plan.mode)), "
        + "output \(directory)")
    var rows = [["#", "run id", plan.mode == .paper ? "method" : "policy", "seed", "settings"]]
    for run in plan.runs {
      rows.append([
        "\(run.index + 1)", run.id, run.variant, "\(run.seed)",
        ([run.configuration.map { "variant \($0)" }].compactMap { $0 }
          + run.axisValues.map { "\($0.field)=\($0.value)" }).joined(separator: " "),
      ])
    }
    console.print(formatTable(rows))
  }

  /// Runs of the sweep failed (each recorded with its error): exit code 1.
  struct SweepFailedError: Error, CustomStringConvertible {
    /// The ids of the failed runs, in grid order.
    let failed: [String]
    /// The number of runs in the sweep.
    let runs: Int
    /// The sweep's output directory.
    let directory: String

    var description: String {
      "\(failed.count) of \(runs) runs failed: \(failed.joined(separator: ", ")) (their errors are "
        + "in \(directory)/results.jsonl)\nhint: fix the cause and run the sweep again; it "
        + "retries only the runs that did not finish"
    }
  }

  /// One line on how `run` ended.
  private static func outcome(of run: SweepRun, _ record: [String: Any], total: Int) -> String {
    let seconds = record["seconds"] as? Double ?? 0
    let head = "run \(run.index + 1)/\(total) \(run.id): "
    guard record["status"] as? String == "finished" else {
      return head + "FAILED after \(String(format: "%.1f s", seconds)): \(record["error"] ?? "")"
    }
    let metrics = record["metrics"] as? [String: Any] ?? [:]
    let (name, value, unit) = SweepSummary.mainMetric(metrics)
    return head
      + String(
        format: "finished in %.1f s, %@ %@%@", seconds, name,
        String(format: unit.isEmpty ? "%.4f" : "%.1f", value), unit)
  }

  /// Writes a trained paper model's state (weights, batch-norm statistics) to an HDF5 file,
  /// `state/<key>` per tensor, atomically.
  private static func writeModel(
    _ model: Module, to path: String, attributes: [String: String], seed: Int, testError: Double
  ) throws {
    try HDF5File.createAtomically(path) { root in
      for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
        try root.setAttribute(name, value)
      }
      try root.setAttribute("seed", seed)
      try root.setAttribute("test_error", testError)
      try root.setAttribute("tool_version", ExpertStreamVersion.current)
      try root.setAttribute("numerics", BLAS.numericsDescription)
      let state = try root.group("state")
      for (key, tensor) in model.state() {
        try state.write(key, floats: tensor.values, shape: tensor.shape)
      }
    }
  }

  /// Trains one run and returns its record; a failure is recorded, not thrown.
  private func execute(
    _ run: SweepRun, plan: SweepPlan, directory: String,
    datasets: inout [String: (train: Dataset, test: Dataset)], note: (String) -> Void,
    service: () -> Void
  ) -> [String: Any] {
    let started = Date()
    var record: [String: Any] = ["run_id": run.id, "index": run.index, "settings": run.settings]
    do {
      var scenario = try Scenario.load(plan.scenarioPath, overrides: run.overrides)
      scenario.checkpoint.directory = directory
      let key = "\(scenario.dataset)"
      if datasets[key] == nil {
        datasets[key] = try scenario.loadDatasets(dataDirectory: dataDirectory)
      }
      let (train, test) = datasets[key]!
      try FileSystem.createDirectory(directory)
      let metrics: [String: Any]
      if scenario.mode == .paper {
        let experiment = try PaperComparison(
          scenario: scenario, file: plan.scenarioPath, train: train, test: test
        ).experiment
        let (result, model) = try experiment.run(
          PaperMethod(rawValue: run.variant)!, seed: UInt64(run.seed)
        ) { _ in service() }
        metrics = PaperReport.record(result)
        try Self.writeModel(
          model, to: "\(directory)/model.h5",
          attributes: [
            "method": run.variant, "scenario_hash": scenario.hash,
            "architecture": scenario.model.expert.rawValue,
          ], seed: run.seed, testError: result.test.error)
      } else {
        let stream = TaskStream(scenario: scenario, train: train, test: test)
        let experiment = ContinualExperiment(
          scenario: scenario, stream: stream, checkpointDirectory: directory)
        let result = try experiment.resume { event in
          if case .note(let text) = event { note("\(run.id): \(text)") }
          if case .resumed(let file, let done, let of) = event {
            note("resuming \(run.id) from \(file): \(done) of \(of) tasks done")
          }
          service()
        }
        metrics = result.record
      }
      let (deterministic, timing) = SweepSummary.separatingTimings(metrics)
      record["status"] = "finished"
      record["metrics"] = deterministic
      record["timing"] = timing
      try FileSystem.writeAtomically(
        try JSONOutput.data(metrics, pretty: true), to: "\(directory)/metrics.json")
    } catch {
      record["status"] = "failed"
      record["error"] = "\(error)"
    }
    record["seconds"] = Date().timeIntervalSince(started)
    return JSONOutput.sanitized(record)
  }
}
