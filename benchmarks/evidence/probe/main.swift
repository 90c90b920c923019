// evidence-probe: trains spawn-and-freeze on a 5 × 2 split with the setting of
// tasks/split-fashion-mnist-vs-avalanche.json's `moe` variant, then fits evidence scores
// post hoc on each frozen expert's own task's training samples (an expert frozen after
// task i gives the same score fitted then or at the end) and routes the test set by them.
// Prints one JSON line per (score kind, calibration) and one for the run's own gate.
//
// evidence-probe --dataset fashion-mnist|mnist [--data-dir DIR] [--seed S]
//   [--gate trainable|replay] [--per-class] [--threads T] [--shrinkage A] [--rank R]
//   [--rank-x R]
import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

var options: [String: String] = [:]
var flags: Set<String> = []
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
  if argument == "--per-class" { flags.insert(argument); continue }
  options[argument] = arguments.next() ?? ""
}
let datasetName = options["--dataset"] ?? "fashion-mnist"
let seed = Int(options["--seed"] ?? "0") ?? 0
let gateTraining = options["--gate"] ?? "trainable"
let perClass = flags.contains("--per-class")
Compute.threads = Int(options["--threads"] ?? "1") ?? 1
let shrinkage = Double(options["--shrinkage"] ?? "0.1") ?? 0.1
let rank = Int(options["--rank"] ?? "8") ?? 8
let rankPixels = Int(options["--rank-x"] ?? "32") ?? 32

var overrides = [
  "dataset.validation_fraction=0", "training.epochs=1", "training.batch_size=128",
  "checkpoint.every_task=false", "lifecycle.policy=spawn-and-freeze",
  "lifecycle.experts_per_task=1", "lifecycle.gate=\(gateTraining)",
  "model.expert=conv", "model.channels=16", "model.hidden=[64,32]",
  "model.gate_hidden=[256,32]", "model.gate=attentive",
  "training.optimizer.learning_rate=0.001", "training.seed=\(seed)",
]
if gateTraining == "replay" {
  overrides += ["lifecycle.replay_samples=1000", "lifecycle.gate_epochs=5"]
}
if perClass { overrides += ["split.tasks=10", "split.classes_per_task=1"] }
let file = datasetName == "mnist" ? "tasks/split-mnist.json" : "tasks/split-fashion-mnist.json"
let scenario = try Scenario.load(file, overrides: overrides)
let (trainSet, testSet) = try scenario.loadDatasets(dataDirectory: options["--data-dir"])
let stream = TaskStream(scenario: scenario, train: trainSet, test: testSet)
let run = try ContinualRun(scenario: scenario, stream: stream)
let result = try run.run()
let trainingSeconds = result.reports.reduce(0) { $0 + $1.trainingSeconds }
let last = result.reports.last!
let model = run.model
let expertClasses = run.records.map(\.classes)
let experts = model.experts.count
let classes = model.classCount

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func json(_ object: [String: Any]) -> String {
  let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  return String(decoding: data, as: UTF8.self)
}
let common: [String: Any] = [
  "dataset": datasetName, "seed": seed, "gate_training": gateTraining,
  "granularity": perClass ? "class" : "task", "training_seconds": trainingSeconds,
  "stored_samples": gateTraining == "replay" ? run.replayIndices.count : 0,
]
let meanOf = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
print(json(common.merging([
  "router": "learned-gate", "class_il": meanOf(last.accuracyClassIL),
  "task_il": meanOf(last.accuracyTaskIL), "routing": last.routingAccuracy,
]) { a, _ in a }))

/// Expert outputs (`only` or every expert) and the flattened inputs for `indices`.
func outputs(_ indices: [Int], of dataset: Dataset, only: Int? = nil) throws
  -> (experts: [(hidden: Tensor, logits: Tensor)], pixels: Tensor)
{
  let chosen = only.map { [$0] } ?? Array(0..<experts)
  var hidden = Array(repeating: [Float](), count: experts)
  var logits = Array(repeating: [Float](), count: experts)
  var pixels: [Float] = []
  pixels.reserveCapacity(indices.count * scenario.sampleShape.reduce(1, *))
  try withGradientsDisabled {
    for first in stride(from: 0, to: indices.count, by: 256) {
      let (input, _) = try dataset.batch(Array(indices[first..<min(indices.count, first + 256)]))
      pixels += input.values
      for e in chosen {
        let output = try model.experts[e](input)
        hidden[e] += output.hidden.values
        logits[e] += output.logits.values
      }
    }
  }
  let n = indices.count
  return (
    try (0..<experts).map { e in
      (
        try Tensor(shape: [n, hidden[e].count / max(n, 1)], values: hidden[e]),
        try Tensor(shape: [n, logits[e].isEmpty ? 0 : classes], values: logits[e])
      )
    }, try Tensor(shape: [n, pixels.count / n], values: pixels)
  )
}

model.train(false)
let testIndices = stream.tasks.flatMap(\.testIndices)
let testLabels = testIndices.map { testSet.labels[$0] }.map(Int.init)
let test = try outputs(testIndices, of: testSet)
/// The class expert e predicts for test sample s, restricted to its classes.
func prediction(_ e: Int, _ s: Int) -> Int {
  let row = test.experts[e].logits.storage.pointer + s * classes
  return expertClasses[e].max { row[$0] < row[$1] }!
}
let ownExpert = testLabels.map { label in expertClasses.firstIndex { $0.contains(label) }! }
let taskIL = meanOf(
  testLabels.indices.map { prediction(ownExpert[$0], $0) == testLabels[$0] ? 1 : 0 })

// Fit every (space, kind) on each expert's own task's training samples, through that
// expert only, one task at a time (the pixels of one task at most are held).
let zeroLogits = { (n: Int) in try Tensor(shape: [n, classes], repeating: 0) }
let spaces = ["h", "x"]
func kinds(_ space: String) -> [EvidenceKind] {
  EvidenceKind.allCases.filter { !(space == "x" && $0 == .energy) }
}
var fitted: [String: [ExpertEvidence]] = [:]
var fitSeconds: [String: Double] = [:]
var featureSeconds = 0.0
for task in stream.tasks.indices {
  let featureStart = now()
  let indices = stream.tasks[task].trainIndices
  let labels = indices.map { Int(trainSet.labels[$0]) }
  let own = try outputs(indices, of: trainSet, only: task)
  featureSeconds += now() - featureStart
  for space in spaces {
    for kind in kinds(space) {
      let start = now()
      let settings = EvidenceSettings(
        kind: kind, shrinkage: shrinkage, rank: space == "h" ? rank : rankPixels)
      let key = "\(space)/\(kind.rawValue)"
      fitted[key, default: []].append(
        try ExpertEvidence.fit(
          settings, classes: expertClasses[task],
          hidden: space == "h" ? own.experts[task].hidden : own.pixels,
          logits: space == "h" ? own.experts[task].logits : try zeroLogits(labels.count),
          labels: labels))
      fitSeconds[key, default: 0] += now() - start
    }
  }
}

/// Prints the metrics of routing by `scores` (B rows of E, higher wins).
func report(
  _ name: [String: Any], scores: [[Double]], evidenceClasses: [Int]?, fitSeconds: Double
) {
  var (routedRight, classRight, evidenceClassRight) = (0, 0, 0)
  var confusions: [String: Int] = [:]
  var routingByTask = Array(repeating: [0, 0], count: experts)
  for (s, label) in testLabels.enumerated() {
    let row = scores[s]
    let winner = row.indices.max { row[$0] < row[$1] }!
    let predicted = prediction(winner, s)
    if winner == ownExpert[s] { routedRight += 1; routingByTask[ownExpert[s]][0] += 1 }
    routingByTask[ownExpert[s]][1] += 1
    if predicted == label {
      classRight += 1
    } else {
      confusions["\(label)->\(predicted)", default: 0] += 1
    }
    if evidenceClasses?[s] == label { evidenceClassRight += 1 }
  }
  let n = Double(testLabels.count)
  let top = confusions.sorted { $0.value > $1.value }.prefix(6).map { "\($0.key):\($0.value)" }
  var record = common.merging(name) { a, _ in a }
  record.merge([
    "router": "evidence", "routing": Double(routedRight) / n, "class_il": Double(classRight) / n,
    "task_il": taskIL, "fit_seconds": fitSeconds + featureSeconds, "top_confusions": top,
    "routing_by_task": routingByTask.map { Double($0[0]) / Double(max($0[1], 1)) },
  ]) { _, b in b }
  if evidenceClasses != nil { record["class_il_evidence_class"] = Double(evidenceClassRight) / n }
  print(json(record))
}

var cache: [String: [[Double]]] = [:]  // "space/kind/calibration" → scores
for space in spaces {
  for kind in kinds(space) {
    let key = "\(space)/\(kind.rawValue)"
    let router = EvidenceRouter(experts: fitted[key]!)
    for calibration in EvidenceCalibration.allCases {
      let routed = try router.route(
        hidden: space == "h"
          ? test.experts.map(\.hidden) : Array(repeating: test.pixels, count: experts),
        logits: space == "h"
          ? test.experts.map(\.logits)
          : Array(repeating: try zeroLogits(testLabels.count), count: experts),
        calibration: calibration)
      cache["\(key)/\(calibration.rawValue)"] = routed.scores
      report(
        ["space": space, "kind": kind.rawValue, "calibration": calibration.rawValue],
        scores: routed.scores, evidenceClasses: routed.classes, fitSeconds: fitSeconds[key]!)
    }
  }
}
// Fused: the sum of an h score and an x score under the same calibration.
for calibration in [EvidenceCalibration.expertZ, .classZ, .rank] {
  for hKind in EvidenceKind.allCases {
    for xKind in EvidenceKind.allCases where xKind != .energy {
      guard let a = cache["h/\(hKind.rawValue)/\(calibration.rawValue)"],
        let b = cache["x/\(xKind.rawValue)/\(calibration.rawValue)"]
      else { continue }
      report(
        ["space": "h+x", "kind": "\(hKind.rawValue)+\(xKind.rawValue)",
         "calibration": calibration.rawValue],
        scores: zip(a, b).map { zip($0, $1).map { $0 + $1 } }, evidenceClasses: nil,
        fitSeconds: fitSeconds["h/\(hKind.rawValue)"]! + fitSeconds["x/\(xKind.rawValue)"]!)
    }
  }
}
