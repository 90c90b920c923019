// evidence-probe: trains spawn-and-freeze on a 5 × 2 split with the setting of
// tasks/split-fashion-mnist-vs-avalanche.json's `moe` variant, then fits evidence scores
// post hoc on each frozen expert's own task's training samples (an expert frozen after
// task i gives the same score fitted then or at the end) and routes the test set by them.
// Prints one JSON line per (score kind, calibration) and one for the run's own gate.
//
// evidence-probe --dataset fashion-mnist|mnist [--data-dir DIR] [--seed S]
//   [--gate trainable|replay] [--per-class] [--threads T] [--shrinkage A] [--rank R]
//   [--rank-x R] [--train mixture|isolated] [--validation]
// --train isolated trains each task's expert alone instead of through ContinualRun;
// --validation holds out 10% of each task's training samples and evaluates on them.
import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

#if canImport(Glibc)
  import Glibc
#endif

var options: [String: String] = [:]
var flags: Set<String> = []
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
  if argument == "--per-class" || argument == "--validation" { flags.insert(argument); continue }
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

let isolated = options["--train"] == "isolated"
let validation = flags.contains("--validation")
var overrides = [
  "dataset.validation_fraction=\(validation ? 0.1 : 0)", "training.epochs=1",
  "training.batch_size=128", "checkpoint.every_task=false",
  "lifecycle.policy=spawn-and-freeze", "lifecycle.experts_per_task=1",
  "lifecycle.gate=\(gateTraining)", "model.expert=conv", "model.channels=16",
  "model.hidden=[64,32]", "model.gate_hidden=[256,32]", "model.gate=attentive",
  "training.optimizer.learning_rate=0.001", "training.seed=\(seed)",
]
if validation { overrides.append("dataset.evaluate_on=validation") }
if gateTraining == "replay" {
  overrides += ["lifecycle.replay_samples=1000", "lifecycle.gate_epochs=5"]
}
if perClass { overrides += ["split.tasks=10", "split.classes_per_task=1"] }
let file = datasetName == "mnist" ? "tasks/split-mnist.json" : "tasks/split-fashion-mnist.json"
let scenario = try Scenario.load(file, overrides: overrides)
let loaded = try scenario.loadDatasets(dataDirectory: options["--data-dir"])
let stream = TaskStream(scenario: scenario, train: loaded.train, test: loaded.test)
// With --validation the stream's test samples are each task's held-out training samples.
let (trainSet, testSet) = (stream.train, stream.test)
let classes = scenario.classCount
var trainedExperts: [any Expert] = []
var expertClasses: [[Int]] = []
var trainingSeconds = 0.0
var learnedGate: [String: Any]? = nil
var storedSamples = 0
var dumpRun: ContinualRun? = nil
if isolated {
  // Each task's expert trained alone on its task (cross-entropy over the task's classes,
  // Adam 1e-3, batch 128, one epoch), then frozen: what an evidence-routed mixture trains.
  var generator = RandomGenerator(seed: UInt64(seed))
  for task in stream.tasks {
    let expert = try FeatureExpert.convolutional(
      inputShape: scenario.sampleShape, channels: 16, hiddenWidths: [64, 32], classCount: classes,
      using: &generator)
    let alone = try MixtureOfExperts(experts: [expert], gate: SingleExpertGate())
    let optimizer = Adam(learningRate: 0.001)
    let start = DispatchTime.now().uptimeNanoseconds
    var order = task.trainIndices
    order.shuffle(using: &generator)
    for first in stride(from: 0, to: order.count, by: 128) {
      let batch = Array(order[first..<min(order.count, first + 128)])
      guard batch.count > 1 else { continue }
      let (input, labels) = try trainSet.batch(batch)
      _ = try alone.trainStep(
        input: input, targets: labels, objective: MixtureObjective(), optimizer: optimizer,
        head: OutputHead(allowedClasses: task.classes))
    }
    trainingSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    expert.freeze()
    expert.train(false)
    trainedExperts.append(expert)
    expertClasses.append(task.classes)
  }
} else {
  let run = try ContinualRun(scenario: scenario, stream: stream)
  let result = try run.run()
  trainingSeconds = result.reports.reduce(0) { $0 + $1.trainingSeconds }
  let last = result.reports.last!
  let meanOf = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
  learnedGate = [
    "router": "learned-gate", "class_il": meanOf(last.accuracyClassIL),
    "task_il": meanOf(last.accuracyTaskIL), "routing": last.routingAccuracy,
  ]
  run.model.train(false)
  trainedExperts = run.model.experts
  expertClasses = run.records.map(\.classes)
  storedSamples = gateTraining == "replay" ? run.replayIndices.count : 0
  dumpRun = run
}
let experts = trainedExperts.count
// --random-features C: score "pixels" through a fixed random convolution (C 3×3 filters,
// ReLU, 2×2 max pooling), the same for every expert (space "r" instead of "x").
let randomChannels = Int(options["--random-features"] ?? "")
var featureGenerator = RandomGenerator(seed: 20261202)
let randomFeatures: Sequential? = try randomChannels.map {
  Sequential([
    try ConvBlock(
      try Conv2D(scenario.sampleShape[0], $0, kernelSize: 3, using: &featureGenerator),
      pool: MaxPool2D(kernelSize: 2)),
    Flatten(),
  ])
}
let randomFeatureCount = randomChannels.map {
  $0 * ((scenario.sampleShape[1] - 2) / 2) * ((scenario.sampleShape[2] - 2) / 2)
}
let pixelSpace = randomFeatures == nil ? "x" : "r"
#if canImport(Glibc)
  // TensorCore keeps freed large buffers in the heap for the training loop; the post hoc
  // phase allocates differently sized pixel matrices, so let glibc map and unmap those.
  // glibc's mallopt (not exported by the Glibc module): M_MMAP_THRESHOLD −3, M_TRIM −1.
  if let symbol = dlsym(dlopen(nil, RTLD_NOW), "mallopt") {
    let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    _ = (mallopt(-3, 1 << 20), mallopt(-1, 1 << 20))
  }
#endif

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func json(_ object: [String: Any]) -> String {
  // Non-finite numbers become null (JSONSerialization refuses them).
  let data = (try? JSONOutput.data(object, pretty: false)) ?? Data("{}".utf8)
  return String(decoding: data, as: UTF8.self)
}
let common: [String: Any] = [
  "dataset": datasetName, "seed": seed, "gate_training": isolated ? "none" : gateTraining,
  "training": isolated ? "isolated" : "mixture", "evaluated_on": validation ? "validation" : "test",
  "granularity": perClass ? "class" : "task", "training_seconds": trainingSeconds,
  "stored_samples": storedSamples,
]
let meanOf = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
if let learnedGate { print(json(common.merging(learnedGate) { a, _ in a })) }

/// Expert outputs (`only` or every expert) and the flattened inputs for `indices`.
func outputs(_ indices: [Int], of dataset: Dataset, only: Int? = nil) throws
  -> (experts: [(hidden: Tensor, logits: Tensor)], pixels: Tensor)
{
  let chosen = only.map { [$0] } ?? Array(0..<experts)
  var hidden = Array(repeating: [Float](), count: experts)
  var logits = Array(repeating: [Float](), count: experts)
  var pixels: [Float] = []
  pixels.reserveCapacity(indices.count * (randomFeatureCount ?? scenario.sampleShape.reduce(1, *)))
  try withGradientsDisabled {
    for first in stride(from: 0, to: indices.count, by: 256) {
      let (input, _) = try dataset.batch(Array(indices[first..<min(indices.count, first + 256)]))
      pixels += try randomFeatures.map { try $0(input).values } ?? input.values
      for e in chosen {
        let output = try trainedExperts[e](input)
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
let spaces = ["h", pixelSpace]
func kinds(_ space: String) -> [EvidenceKind] {
  EvidenceKind.allCases.filter { !(space != "h" && $0 == .energy) }
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
        let b = cache["\(pixelSpace)/\(xKind.rawValue)/\(calibration.rawValue)"]
      else { continue }
      report(
        [
          "space": "h+x", "kind": "\(hKind.rawValue)+\(xKind.rawValue)",
          "calibration": calibration.rawValue,
        ],
        scores: zip(a, b).map { zip($0, $1).map { $0 + $1 } }, evidenceClasses: nil,
        fitSeconds: fitSeconds["h/\(hKind.rawValue)"]!
          + fitSeconds["\(pixelSpace)/\(xKind.rawValue)"]!)
    }
  }
}

// --dump PATH (gate replay): per test and replay-buffer sample, the learned gate's
// probabilities, the pixel-subspace residual to every class and each expert's prediction,
// as one JSON object, for trying hybrid routers offline.
if let dumpPath = options["--dump"], let run = dumpRun {
  let inputCount = scenario.sampleShape.reduce(1, *)
  let subspaces = try stream.tasks.indices.map { task in
    let (input, labels) = try trainSet.batch(stream.tasks[task].trainIndices)
    return try ExpertEvidence.fit(
      EvidenceSettings(kind: .subspace, rank: rankPixels), classes: expertClasses[task],
      hidden: input.reshaped([labels.count, inputCount]), labels: labels)
  }
  func rows(_ indices: [Int], of dataset: Dataset) throws -> [String: Any] {
    var gate: [[Float]] = [], residual: [[Float]] = [], predicted: [[Int]] = []
    try withGradientsDisabled {
      for first in stride(from: 0, to: indices.count, by: 256) {
        let (input, _) = try dataset.batch(Array(indices[first..<min(indices.count, first + 256)]))
        let output = try run.model(input)
        let n = input.shape[0]
        let g = output.gate.values
        gate += (0..<n).map { Array(g[($0 * experts)..<(($0 + 1) * experts)]) }
        var classResidual = [[Float]](repeating: [Float](repeating: 0, count: classes), count: n)
        let x = try input.reshaped([n, inputCount])
        for (e, evidence) in subspaces.enumerated() {
          let scores = try evidence.classScores(hidden: x)
          for row in 0..<n {
            for (slot, label) in expertClasses[e].enumerated() {
              classResidual[row][label] = Float(-scores[row][slot])
            }
          }
        }
        residual += classResidual
        for row in 0..<n {
          predicted.append(
            (0..<experts).map { e in
              let logits = output.expertOutputs[e].logits.values
              return expertClasses[e].max {
                logits[row * classes + $0] < logits[row * classes + $1]
              }!
            })
        }
      }
    }
    return [
      "labels": indices.map { Int(dataset.labels[$0]) }, "gate": gate, "residual": residual,
      "predicted": predicted,
    ]
  }
  let object: [String: Any] = [
    "expert_classes": expertClasses,
    "test": try rows(testIndices, of: testSet),
    "buffer": try rows(run.replayIndices, of: trainSet),
  ]
  try JSONOutput.data(object, pretty: false).write(to: URL(fileURLWithPath: dumpPath))
}
