import Checkpoints
import Continual
import Foundation
import Testing
import _TestSupport

/// Every run's scalars, images and text under `logDirectory`, as `tensorboard`'s event
/// accumulator reads them (`scripts/tensorboard-dump.py`).
private func readBack(_ logDirectory: String) throws -> [String: [String: [String: [[Any]]]]] {
  let dump = try runProgram(
    "/usr/bin/env", ["python3", "\(repositoryRoot)/scripts/tensorboard-dump.py", logDirectory])
  try #require(dump.status == 0, "\(dump.output)")
  // Python may warn on standard error first; the JSON object starts at the first brace.
  let json = dump.output[dump.output.firstIndex(of: "{")!...]
  return try JSONSerialization.jsonObject(with: Data(json.utf8))
    as! [String: [String: [String: [[Any]]]]]
}

/// The scalars a run's TensorBoard log must hold, from its `metrics` (a sweep record's) and
/// the epoch losses its checkpoint recorded, by tag: (step, value as Float) pairs; NaN as
/// `nil`.
private func expectedScalars(_ metrics: ContinualMetrics, epochLosses: [[Double]])
  -> [String: [[Float?]]]
{
  var scalars: [String: [[Float?]]] = [:]
  func add(_ tag: String, _ step: Int, _ value: Double) {
    scalars[tag, default: []].append([Float(step), value.isNaN ? nil : Float(value)])
  }
  for (task, losses) in epochLosses.enumerated() {
    for (epoch, loss) in losses.enumerated() { add("loss", task * losses.count + epoch + 1, loss) }
  }
  for (name, matrix) in [
    ("task_il", metrics.accuracyMatrixTaskIL), ("class_il", metrics.accuracyMatrixClassIL),
  ] {
    for step in matrix.indices {
      for (task, accuracy) in matrix[step].enumerated() {
        add("accuracy_\(name)/task_\(task)", step, accuracy)
      }
      let rows = Array(matrix.prefix(step + 1))
      add("accuracy_\(name)/average", step, ContinualResult.averageAccuracy(rows))
      add("bwt_\(name)", step, ContinualResult.backwardTransfer(rows))
    }
  }
  for step in metrics.tasks.indices {
    if let routing = metrics.routingAccuracyPerTask { add("routing_accuracy", step, routing[step]) }
    add("routing_forgetting", step, metrics.routingForgettingPerTask[step])
    for (expert, usage) in metrics.expertUsage[step].enumerated() {
      add("expert_usage/expert_\(expert)", step, usage)
    }
    add("usage_entropy_bits", step, metrics.usageEntropy[step])
    add("class_entropy_bits", step, metrics.classEntropy[step])
  }
  return scalars
}

@Test(
  .enabled(
    if: hasFashionMNIST && (hasTensorBoard || isCI),
    "needs dataset-fashion-mnist and python3 -m pip install tensorboard"))
func aSweepsTensorBoardLogsHoldTheNumbersOfItsResults() throws {
  try #require(hasTensorBoard, "CI installs tensorboard (.ci/run): python3 -c 'import tensorboard'")
  let directory = try TemporaryDirectory()
  let (out, logs) = (directory.path("sweep"), directory.path("logs"))
  let sweep = runTool([
    "sweep", "\(repositoryRoot)/tasks/sweep-quick.json", "--out", out, "--log-dir", logs,
    "--quiet",
  ])
  try #require(sweep.status == 0, "\(sweep.error)")
  let runs = try readBack(logs)
  let lines = try String(contentsOfFile: "\(out)/results.jsonl", encoding: .utf8)
    .split(separator: "\n")
  #expect(lines.count == 4 && Set(runs.keys).count == 4)
  var compared = 0
  for line in lines {
    let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    let id = record["run_id"] as! String
    let metrics = try JSONDecoder().decode(
      ContinualMetrics.self,
      from: JSONSerialization.data(withJSONObject: record["metrics"]!))
    let reports = try Checkpoint.read("\(out)/runs/\(id)/latest.h5").reports
    let log = try #require(runs[id], "no TensorBoard run \(id) in \(runs.keys.sorted())")
    let scalars: [String: [[Float?]]] = (log["scalars"] ?? [:]).mapValues { points in
      points.map { point -> [Float?] in
        [Float(point[0] as! Int), (point[1] as? Double).map(Float.init)]
      }
    }
    let expected = expectedScalars(metrics, epochLosses: reports.map(\.epochLosses))
    #expect(scalars == expected, "run \(id)")
    compared += expected.values.map(\.count).reduce(0, +)
    // The last step's averages and BWT are the metrics' own.
    let last = Float(metrics.tasks.count - 1)
    #expect(
      scalars["accuracy_class_il/average"]?.last == [last, Float(metrics.averageAccuracyClassIL)])
    #expect(scalars["bwt_task_il"]?.last == [last, Float(metrics.bwtTaskIL)])
    // One p(expert | class) image per task, a 24-pixel cell per expert and class.
    let images = (log["images"]?["decomposition"] ?? []).map { $0 as! [Int] }
    #expect(
      images
        == metrics.decompositions.enumerated().map {
          [$0.offset, 24 * $0.element[0].count, 24 * $0.element.count]
        })
    let hash = log["text"]?["scenario_hash"]?.first?[1] as? String
    #expect(hash == metrics.scenarioHash)
  }
  // Per run: 3 losses, 2 × (6 accuracies, 3 averages, 3 BWT), 3 × 4 routing values, usage.
  #expect(compared >= 4 * 40)
}

@Test(.enabled(if: hasFashionMNIST, "needs Debian's dataset-fashion-mnist"))
func runLogsEveryPolicyAndSeedInItsOwnDirectory() throws {
  let directory = try TemporaryDirectory()
  func eventFiles(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter {
      $0.hasPrefix("events.out.tfevents.")
    }
  }
  let flag = runTool([
    "run", quickScenario, "--policy", "spawn-and-freeze,fine-tune", "--quiet",
    "--set", "checkpoint.directory=\(directory.path("flag-checkpoints"))",
    "--log-dir", directory.path("flag"),
  ])
  #expect(flag.status == 0, "\(flag.error)")
  #expect(eventFiles(directory.path("flag/spawn-and-freeze/seed_0")).count == 1)
  #expect(eventFiles(directory.path("flag/fine-tune/seed_0")).count == 1)
  // The scenario's field, when no --log-dir is given.
  let field = runTool([
    "run", quickScenario, "--quiet",
    "--set", "checkpoint.directory=\(directory.path("field-checkpoints"))",
    "--set", "checkpoint.log_dir=\(directory.path("field"))",
  ])
  #expect(field.status == 0, "\(field.error)")
  #expect(eventFiles(directory.path("field/spawn-and-freeze/seed_0")).count == 1)
}
