import NN
import TensorCore

/// The training loss of the mixture.
public enum MixtureLoss: String, Sendable, CaseIterable {
  /// −mean log(Σ_i g_i y_i[target] + 1e-15): the dense mixture, as the paper trains it.
  case mixture
  /// Jacobs et al. (1991): −mean log(Σ_i g_i exp(−½·CE_i) + 1e-15), CE_i the expert's
  /// cross-entropy.
  case competitive
}

/// Everything one forward pass of the mixture produces.
public struct MixtureOutput {
  /// g(x), [B, E].
  public let gate: Tensor
  /// y_i(x) = softmax(o_i(x)) stacked, [B, E, K].
  public let expertProbabilities: Tensor
  /// p(y|x) = Σ_i g_i(x) y_i(x), [B, K].
  public let probabilities: Tensor
  /// Each expert's raw output.
  public let expertOutputs: [ExpertOutput]
}

/// The dense Mixture of Experts: every expert runs on every sample and the gate weighs
/// their class probabilities.
public final class MixtureOfExperts: Module {
  /// The experts, in the gate's order (`experts.i.…` in checkpoints).
  public private(set) var experts: [any Expert]
  /// The gate (`gate.…` in checkpoints).
  public private(set) var gate: any Gate

  /// A mixture of `experts` routed by `gate`.
  ///
  /// - Throws: ``ModuleError`` when the experts disagree on the class count, the gate routes
  ///   over a different number of experts, or an attentive gate's dimension differs from
  ///   an expert's hidden size.
  public init(experts: [any Expert], gate: any Gate) throws {
    self.experts = experts
    self.gate = gate
    super.init()
    try validate()
  }

  /// K.
  public var classCount: Int { experts.first?.classCount ?? 0 }

  private func validate() throws {
    guard !experts.isEmpty else {
      throw ModuleError.invalidConfiguration("a mixture needs at least one expert")
    }
    if let odd = experts.firstIndex(where: { $0.classCount != classCount }) {
      throw ModuleError.invalidConfiguration(
        "expert \(odd) scores \(experts[odd].classCount) classes, expert 0 \(classCount)")
    }
    guard gate.expertCount == experts.count else {
      throw ModuleError.invalidConfiguration(
        "the gate routes over \(gate.expertCount) experts but the mixture has \(experts.count)")
    }
    if let attentive = gate as? AttentiveGate,
      let odd = experts.firstIndex(where: { $0.hiddenCount != attentive.dimension })
    {
      throw ModuleError.invalidConfiguration(
        "expert \(odd) has hidden size \(experts[odd].hiddenCount) but the attentive gate's "
          + "dimension is \(attentive.dimension)")
    }
  }

  /// Runs every expert and the gate on a batch.
  ///
  /// - Parameter input: [B, …], what the experts and the gate take.
  public func callAsFunction(_ input: Tensor) throws -> MixtureOutput {
    let outputs = try experts.map { try $0(input) }
    let gateProbabilities = try gate.probabilities(
      input, expertHidden: gate.needsExpertHidden ? outputs.map(\.hidden) : [])
    let expertProbabilities = try Tensor.stack(
      outputs.map { try $0.logits.softmax(axis: 1) }, axis: 1)
    let batch = gateProbabilities.shape[0]
    let weighted = try expertProbabilities * gateProbabilities.reshaped([batch, experts.count, 1])
    return MixtureOutput(
      gate: gateProbabilities, expertProbabilities: expertProbabilities,
      probabilities: try weighted.sum(axis: 1), expertOutputs: outputs)
  }

  /// The loss of `output` for `targets` (B class indices).
  public func loss(_ output: MixtureOutput, targets: [Int], kind: MixtureLoss = .mixture) throws
    -> Tensor
  {
    switch kind {
    case .mixture:
      return try negativeLogLikelihood(probabilities: output.probabilities, targets: targets)
    case .competitive:
      // exp(−½·CE_i) = √y_i[target].
      let picked = try Tensor.stack(
        output.expertOutputs.map { try $0.logits.logSoftmax(axis: 1).takeAlongLastAxis(targets) },
        axis: 1)  // [B, E] log-probabilities of the target
      let likelihood = try (output.gate * (picked * 0.5).exp()).sum(axis: 1)
      return -(try (likelihood + 1e-15).log().mean())
    }
  }

  // MARK: - Lifecycle

  /// Adds `expert` at the end and grows the gate to route over it.
  ///
  /// - Throws: ``ModuleError`` when the expert does not fit the mixture (class count, or
  ///   hidden size for an attentive gate); the mixture is then unchanged.
  public func addExpert(_ expert: any Expert, using generator: inout RandomGenerator) throws {
    guard expert.classCount == classCount else {
      throw ModuleError.invalidConfiguration(
        "the new expert scores \(expert.classCount) classes, the mixture \(classCount)")
    }
    if let attentive = gate as? AttentiveGate, expert.hiddenCount != attentive.dimension {
      throw ModuleError.invalidConfiguration(
        "the new expert has hidden size \(expert.hiddenCount) but the attentive gate's "
          + "dimension is \(attentive.dimension)")
    }
    try gate.addExpert(using: &generator)
    experts.append(expert)
    structureDidChange()
  }

  /// Replaces the gate (for distillation); it must route over the same experts.
  public func replaceGate(with newGate: any Gate) throws {
    guard newGate.expertCount == experts.count else {
      throw ModuleError.invalidConfiguration(
        "the new gate routes over \(newGate.expertCount) experts, the mixture has "
          + "\(experts.count)")
    }
    gate = newGate
    structureDidChange()
  }
}
