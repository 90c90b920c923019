import Datasets
import Foundation
import MoE
import NN
import TensorCore

extension ContinualRun {
  // MARK: - EWC

  /// One step with the online-EWC penalty λ/2 Σ F (θ − θ*)² added to the loss.
  func ewcStep(
    input: Tensor, labels: [Int], head: OutputHead, objective: MixtureObjective
  ) throws -> StepLosses {
    model.zeroGradients()
    let (total, terms, _) = try model.objective(
      objective, input: input, targets: labels, head: head)
    var loss = total
    let lambda = Float(scenario.lifecycle.ewcLambda)
    for (key, parameter) in model.trainableParameters() {
      guard let weights = fisher[key], let anchor = anchors[key] else { continue }
      let f = try Tensor(shape: parameter.shape, values: weights)
      let a = try Tensor(shape: parameter.shape, values: anchor)
      loss = try loss + ((parameter - a).squared() * f).sum() * (lambda / 2)
    }
    try loss.backward()
    try optimizer.update(model)
    return terms
  }

  /// Adds the task's diagonal empirical Fisher and moves the anchor to the current weights.
  /// The Fisher is the mean over the task's training batches (in order, of the training
  /// batch size) of the squared gradient of the batch's mean loss, as Avalanche's EWC
  /// computes it.
  func updateFisher(_ task: ContinualTask) throws {
    let head = classIncrementalHead(through: task.index)
    let sample = task.trainIndices
    let batch = scenario.training.batchSize
    var batches = 0
    var sums: [String: [Float]] = [:]
    for first in stride(from: 0, to: sample.count, by: batch) {
      let indices = Array(sample[first..<min(sample.count, first + batch)])
      guard indices.count > 1 else { continue }
      let (input, labels) = try stream.train.batch(indices)
      model.zeroGradients()
      try model.loss(model(input, head: head), targets: labels).backward()
      for (key, parameter) in model.trainableParameters() {
        guard let gradient = parameter.grad?.values else { continue }
        sums[key, default: [Float](repeating: 0, count: gradient.count)] = zip(
          sums[key] ?? [Float](repeating: 0, count: gradient.count), gradient
        ).map { $0 + $1 * $1 }
      }
      batches += 1
    }
    model.zeroGradients()
    for (key, parameter) in model.trainableParameters() {
      let added = (sums[key] ?? []).map { $0 / Float(max(batches, 1)) }
      fisher[key] = zip(fisher[key] ?? [Float](repeating: 0, count: added.count), added).map(+)
      anchors[key] = parameter.values
    }
  }

  // MARK: - Evaluation

  /// Routing weights ``accuracy(_:of:head:routing:)`` uses instead of the gate's.
  enum Routing {
    /// E weights per label.
    case byLabel((Int) -> [Double])
    /// [B, E] weights for a batch's input.
    case byInput((Tensor) throws -> Tensor)
  }

  /// The accuracy on `indices` of `dataset` (the test set unless given), with `head`, and
  /// with `routing`'s weights instead of the gate's when it is given; `remembering` reuses
  /// and keeps the experts' outputs in ``evaluationMemo`` (test set, evaluation mode only).
  func accuracy(
    _ indices: [Int], of dataset: Dataset? = nil, head: OutputHead, routing: Routing? = nil,
    remembering: Bool = false
  ) throws -> Double {
    guard !indices.isEmpty else { return 0 }
    let source = dataset ?? stream.test
    var correct = 0
    try withGradientsDisabled {
      for first in stride(from: 0, to: indices.count, by: Self.evaluationBatch) {
        let batch = Array(indices[first..<min(indices.count, first + Self.evaluationBatch)])
        let (input, labels) = try source.batch(batch)
        var routed: Tensor?
        switch routing {
        case .byLabel(let weights):
          routed = try Tensor(
            shape: [labels.count, model.experts.count],
            values: labels.flatMap { weights($0).map(Float.init) })
        case .byInput(let weights): routed = try weights(input)
        case nil: break
        }
        var known: [Int: ExpertOutput] = [:]
        if remembering { (routed, known) = try remembered(input, on: batch, routing: routed) }
        let output = try model(input, head: head, routing: routed, knownExpertOutputs: known)
        if remembering { evaluationMemo.remember(output.expertOutputs, on: batch) }
        let probabilities = output.probabilities.values
        let classes = model.classCount
        for (row, label) in labels.enumerated() {
          let scores = probabilities[(row * classes)..<((row + 1) * classes)]
          let best = scores.indices.max { scores[$0] < scores[$1] }! - row * classes
          if best == label { correct += 1 }
        }
      }
    }
    return Double(correct) / Double(indices.count)
  }

  /// What ``evaluationMemo`` kept of the experts on the test samples `batch` (whose input
  /// is `input`), and the routing weights to use: `routing` when given, else with an
  /// evidence gate its weights from the experts' kept evidence (which is kept in turn),
  /// with every expert's output then known; `nil` for the mixture's own gate.
  ///
  /// The mixture given these weights and outputs gives what it would give running the gate
  /// and the experts itself, bit for bit.
  private func remembered(_ input: Tensor, on batch: [Int], routing: Tensor?) throws
    -> (routing: Tensor?, known: [Int: ExpertOutput])
  {
    let known = evaluationMemo.known(on: batch)
    guard routing == nil, let gate = model.gate as? EvidenceGate else { return (routing, known) }
    return try withGradientsDisabled {
      let outputs = try model.experts.indices.map { try known[$0] ?? model.experts[$0](input) }
      let (weights, evidence) = try gate.probabilities(
        input, expertHidden: gate.needsExpertHidden ? outputs.map(\.hidden) : [],
        knownEvidence: evaluationMemo.knownEvidence(on: batch))
      if let evidence { evaluationMemo.rememberEvidence(evidence, on: batch) }
      return (weights, Dictionary(uniqueKeysWithValues: outputs.enumerated().map { ($0, $1) }))
    }
  }

  /// Task-IL accuracy of expert `index` alone on `task`'s validation samples (the first
  /// 512 training samples when the scenario holds none out), in evaluation mode: how a
  /// policy judges whether an expert fits a new task.
  ///
  /// - Returns: The fraction correct, in [0, 1].
  public func validationAccuracy(expert index: Int, on task: ContinualTask) throws -> Double {
    model.train(false)
    defer { model.train(true) }
    let indices =
      task.validationIndices.isEmpty ? Array(task.trainIndices.prefix(512)) : task.validationIndices
    let alone = (0..<model.experts.count).map { $0 == index ? 1.0 : 0.0 }
    return try accuracy(
      indices, of: stream.train, head: OutputHead(allowedClasses: task.classes),
      routing: .byLabel { _ in alone })
  }

  func evaluate(
    after task: ContinualTask, seconds: Double, loss: Double, events: [LifecycleEvent]
  ) throws -> TaskReport {
    model.train(false)
    defer { model.train(true) }
    evaluationMemo.refresh(for: model)
    let seen = stream.tasks.prefix(task.index + 1)
    let classHead = classIncrementalHead(through: task.index)
    let taskIL = try seen.map {
      try accuracy(
        $0.testIndices,
        head: OutputHead(allowedClasses: $0.classes, expertClasses: records.map(\.classes)),
        routing: taskRouting($0), remembering: true)
    }
    let classIL = try seen.map {
      try accuracy($0.testIndices, head: classHead, remembering: true)
    }
    var routing = RoutingStatistics(experts: model.experts.count, classes: model.classCount)
    let testIndices = seen.flatMap(\.testIndices)
    for first in stride(from: 0, to: testIndices.count, by: Self.evaluationBatch) {
      let batch = Array(testIndices[first..<min(testIndices.count, first + Self.evaluationBatch)])
      let (input, labels) = try stream.test.batch(batch)
      let (weights, known) = try remembered(input, on: batch, routing: nil)
      let outputs = try model.accumulate(
        into: &routing, input: input, targets: labels, head: classHead, routing: weights,
        knownExpertOutputs: known)
      evaluationMemo.remember(outputs, on: batch)
    }
    let decomposition = routing.decomposition  // E × K
    for label in task.classes {
      decompositionAtTaskEnd[label] = decomposition.map { $0[label] }
    }
    let experts = model.experts.count
    let oldClasses = seen.dropLast().flatMap(\.classes)
    let drift = oldClasses.map { label -> Double in
      let then = decompositionAtTaskEnd[label] ?? []
      let now = decomposition.map { $0[label] }
      return 0.5
        * (0..<experts).reduce(0) { $0 + abs((($1 < then.count) ? then[$1] : 0) - now[$1]) }
    }
    let oracle = try seen.map { seenTask in
      try accuracy(
        seenTask.testIndices, head: classHead,
        routing: .byLabel { label in
          let then = self.decompositionAtTaskEnd[label] ?? []
          return (0..<experts).map { $0 < then.count ? then[$0] : 0 }
        }, remembering: true)
    }
    var report = TaskReport(
      task: task.index, accuracyTaskIL: taskIL, accuracyClassIL: classIL,
      oracleAccuracyClassIL: oracle, routing: routing,
      routingForgetting: drift.isEmpty ? 0 : drift.reduce(0, +) / Double(drift.count),
      trainingSeconds: seconds, finalLoss: loss, events: events)
    report.routingAccuracy = routing.routingAccuracy(expertClasses: records.map(\.classes))
    return report
  }
}
