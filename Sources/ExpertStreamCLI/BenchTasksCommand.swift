import Benchmarks
import Continual
import Foundation
import TensorCore

/// `expertstream bench tasks SCENARIO`: a continual scenario's training time against its
/// number of tasks, on generated MNIST-shaped data.
struct BenchTasksCommand: Command {
  static let configuration = CommandConfiguration(
    name: "bench tasks",
    summary:
      "Measure a continual scenario's training time per task against the number of tasks, "
      + "on generated 28×28 data.",
    usage: [
      "bench tasks SCENARIO [--tasks T,…] [--classes-per-task C] [--samples-per-class N] "
        + "[--set KEY=VALUE]... [--threads T] [--numerics MODE] [--quiet]"
    ],
    options: [
      .option("--tasks", "T,…", "Numbers of tasks, one stream each (default 5,10,20)."),
      .option("--classes-per-task", "C", "Classes per task (default 2)."),
      .option(
        "--samples-per-class", "N",
        "Generated training samples per class (default 2400; a sixth of that for testing)."),
      .option(
        "--set", "KEY=VALUE",
        "Override a scenario field (dataset.name and the split are the benchmark's).",
        repeatable: true),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .numerics,
      .flag("--quiet", "Print only the table (no line per task)."),
    ],
    examples: [
      "expertstream bench tasks tasks/split-fashion-mnist.json --tasks 5,10,20 --threads 2",
      "expertstream bench tasks tasks/split-fashion-mnist.json --tasks 20 "
        + "--set lifecycle.gate=evidence --set model.expert=conv",
    ],
    positionals: 1...1)

  let scenarioFile: String
  let taskCounts: [Int]
  let benchmark: TaskScalingBenchmark
  let threads: Int
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    scenarioFile = arguments.positionals[0]
    let classesPerTask = try arguments.integer("--classes-per-task", in: 1...256) ?? 2
    let samples = try arguments.integer("--samples-per-class", in: 6...1_000_000) ?? 2400
    let list = arguments.value("--tasks") ?? "5,10,20"
    let counts = list.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
    guard !counts.isEmpty, counts.allSatisfy({ $0 != nil && $0! >= 1 }) else {
      throw UsageError(
        "--tasks takes positive whole numbers separated by commas, got '\(list)'",
        hint: "e.g. --tasks 5,10,20")
    }
    taskCounts = counts.map { $0! }
    if let most = taskCounts.max(), most * classesPerTask > 256 {
      throw UsageError(
        "--tasks \(most) with --classes-per-task \(classesPerTask) needs "
          + "\(most * classesPerTask) classes; the generated data has at most 256",
        hint: "fewer tasks or fewer classes per task")
    }
    benchmark = TaskScalingBenchmark(
      scenarioFile: scenarioFile, overrides: arguments.allValues("--set"),
      classesPerTask: classesPerTask, trainSamplesPerClass: samples,
      testSamplesPerClass: Swift.max(1, samples / 6))
    threads = try arguments.integer("--threads", in: 1...1024) ?? Compute.threads
    try arguments.selectNumerics()
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    try BLAS.ensureLoaded()
    Compute.threads = threads
    console.print(
      "\(scenarioFile) on generated 28×28 data: \(benchmark.classesPerTask) classes per task, "
        + "\(benchmark.trainSamplesPerClass) training samples per class, \(threads) threads, "
        + "numerics \(BLAS.numericsDescription)")
    var rows: [[String]] = [
      [
        "tasks", "experts", "first task s", "last task s", "last ÷ first", "total training s",
        "class-IL %", "peak RSS MiB",
      ]
    ]
    for tasks in taskCounts {
      let row = try benchmark.run(tasks: tasks) { progress in
        guard !quiet, case .taskFinished(let report) = progress else { return }
        console.print(
          String(
            format: "  %d tasks: task %d trained in %.2f s", tasks, report.task,
            report.trainingSeconds))
      }
      let (first, last) = (row.trainingSeconds.first ?? 0, row.trainingSeconds.last ?? 0)
      rows.append([
        "\(row.tasks)", "\(row.experts)", String(format: "%.2f", first),
        String(format: "%.2f", last), String(format: "%.2f", last / first),
        String(format: "%.2f", row.trainingSeconds.reduce(0, +)),
        String(format: "%.1f", 100 * row.averageAccuracyClassIL),
        String(format: "%.0f", row.peakMemoryMiB),
      ])
    }
    console.print(formatTable(rows))
    console.print(
      "peak RSS is the process's so far: run one --tasks value per process to measure each "
        + "stream's own")
  }
}
