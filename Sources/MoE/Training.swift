import NN
import TensorCore

/// What a mixture is trained to minimise: its loss plus optional regularizers.
public struct MixtureObjective: Sendable {
  /// The data term.
  public var loss: MixtureLoss
  /// L_s, or `nil`.
  public var sampleSimilarity: SampleSimilarityRegularizer?
  /// L_imp, or `nil`.
  public var importance: ImportanceRegularizer?

  /// An objective; no regularizer unless given.
  public init(
    loss: MixtureLoss = .mixture, sampleSimilarity: SampleSimilarityRegularizer? = nil,
    importance: ImportanceRegularizer? = nil
  ) {
    self.loss = loss
    self.sampleSimilarity = sampleSimilarity
    self.importance = importance
  }
}

/// The terms of one training step's loss, as numbers.
public struct StepLosses: Sendable, Equatable {
  /// The data term.
  public var data: Float
  /// L_s (0 when off).
  public var sampleSimilarity: Float
  /// L_imp (0 when off).
  public var importance: Float
  /// The sum that was minimised.
  public var total: Float { data + sampleSimilarity + importance }
}

extension MixtureOfExperts {
  /// The objective's value on a batch, with its terms, as a differentiable scalar.
  ///
  /// - Parameter knownExpertOutputs: As in ``callAsFunction(_:head:routing:knownExpertOutputs:)``.
  public func objective(
    _ objective: MixtureObjective, input: Tensor, targets: [Int], head: OutputHead = OutputHead(),
    knownExpertOutputs: [Int: ExpertOutput] = [:]
  ) throws -> (total: Tensor, terms: StepLosses, output: MixtureOutput) {
    let output = try self(input, head: head, knownExpertOutputs: knownExpertOutputs)
    let data = try loss(output, targets: targets, kind: objective.loss)
    var total = data
    var terms = StepLosses(data: try data.item(), sampleSimilarity: 0, importance: 0)
    if let similarity = objective.sampleSimilarity {
      let distances = try SampleSimilarityRegularizer.distanceMatrix(input)
      let value = try similarity.loss(gate: output.gate, distances: distances)
      terms.sampleSimilarity = try value.item()
      total = try total + value
    }
    if let importance = objective.importance {
      let value = try importance.loss(gate: output.gate)
      terms.importance = try value.item()
      total = try total + value
    }
    return (total, terms, output)
  }

  /// One optimisation step on a batch: forward, loss and regularizers, backward, update.
  ///
  /// Frozen parameters (frozen experts, frozen gate rows) get no gradient and no update.
  /// - Parameters:
  ///   - input: [B, …].
  ///   - targets: B class indices.
  ///   - head: The classes the output may predict (continual learning).
  ///   - knownExpertOutputs: Outputs of some frozen experts on this very `input`, by expert
  ///     index, used instead of running them (as in
  ///     ``callAsFunction(_:head:routing:knownExpertOutputs:)``).
  public func trainStep(
    input: Tensor, targets: [Int], objective: MixtureObjective, optimizer: any Optimizer,
    head: OutputHead = OutputHead(), knownExpertOutputs: [Int: ExpertOutput] = [:]
  ) throws -> StepLosses {
    zeroGradients()
    let (total, terms, _) = try self.objective(
      objective, input: input, targets: targets, head: head,
      knownExpertOutputs: knownExpertOutputs)
    try total.backward()
    try optimizer.update(self)
    return terms
  }

  /// Adds a batch's routing to `statistics`, without gradients; the caller sets evaluation
  /// mode.
  ///
  /// - Parameter knownExpertOutputs: As in ``callAsFunction(_:head:routing:knownExpertOutputs:)``.
  /// - Returns: The experts' outputs on the batch.
  @discardableResult
  public func accumulate(
    into statistics: inout RoutingStatistics, input: Tensor, targets: [Int],
    head: OutputHead = OutputHead(), routing: Tensor? = nil,
    knownExpertOutputs: [Int: ExpertOutput] = [:]
  ) throws -> [ExpertOutput] {
    try withGradientsDisabled {
      let output = try self(
        input, head: head, routing: routing, knownExpertOutputs: knownExpertOutputs)
      let (batch, experts, classes) = (
        targets.count, self.experts.count, output.probabilities.shape[1]
      )
      let mixture = output.probabilities.storage.pointer
      let perExpert = output.expertProbabilities.storage.pointer
      var predictions = [Int](repeating: 0, count: batch)
      var expertPredictions = [Int](repeating: 0, count: batch * experts)
      for sample in 0..<batch {
        predictions[sample] = argmax(mixture + sample * classes, classes)
        for expert in 0..<experts {
          expertPredictions[sample * experts + expert] = argmax(
            perExpert + (sample * experts + expert) * classes, classes)
        }
      }
      try statistics.add(
        gate: output.gate.values, labels: targets, predictions: predictions,
        expertPredictions: expertPredictions)
      return output.expertOutputs
    }
  }

  /// A softmax gate for distillation: a copy of `attentive`'s trunk under a new output
  /// layer over this mixture's experts, drawn from `generator`.
  ///
  /// Train it with the experts frozen and no regularizer (the paper uses 20 epochs) after
  /// ``replaceGate(with:)``.
  public func distilledGate(
    from attentive: AttentiveGate, using generator: inout RandomGenerator
  ) throws -> SoftmaxGate {
    try SoftmaxGate(
      trunk: try attentive.trunk.copy(), hiddenCount: attentive.hiddenCount,
      expertCount: experts.count, using: &generator)
  }
}

/// The index of the largest of `count` values (the first on ties).
private func argmax(_ values: UnsafeMutablePointer<Float>, _ count: Int) -> Int {
  var best = 0
  for index in 1..<max(count, 1) where values[index] > values[best] { best = index }
  return best
}
