import NN
import TensorCore

/// The configurations compared in the paper's tables.
public enum PaperMethod: String, CaseIterable, Sendable {
  /// One expert network trained alone with cross-entropy (the paper's "single network").
  case single
  /// The dense MoE with the softmax gate.
  case original
  /// The original MoE with the importance regularizer.
  case originalImportance = "original+importance"
  /// The original MoE with the sample-similarity regularizer L_s.
  case originalSampleSimilarity = "original+ls"
  /// The dense MoE with the attentive gate.
  case attentive
  /// The attentive MoE with the importance regularizer.
  case attentiveImportance = "attentive+importance"
  /// The attentive MoE with L_s.
  case attentiveSampleSimilarity = "attentive+ls"
  /// A softmax gate distilled from a trained attentive MoE, experts frozen.
  case distilled

  /// Whether the method trains a mixture with the attentive gate (for `distilled`, the
  /// model it starts from).
  public var usesAttentiveGate: Bool {
    switch self {
    case .attentive, .attentiveImportance, .attentiveSampleSimilarity, .distilled: return true
    case .single, .original, .originalImportance, .originalSampleSimilarity: return false
    }
  }

  /// The training objective: the mixture loss plus this method's regularizer, taken from
  /// the given settings.
  ///
  /// - Parameters:
  ///   - sampleSimilarity: L_s's settings, used by the `+ls` methods.
  ///   - importance: L_imp's settings, used by the `+importance` methods.
  public func objective(
    loss: MixtureLoss, sampleSimilarity: SampleSimilarityRegularizer,
    importance: ImportanceRegularizer
  ) -> MixtureObjective {
    switch self {
    case .originalImportance, .attentiveImportance:
      return MixtureObjective(loss: loss, importance: importance)
    case .originalSampleSimilarity, .attentiveSampleSimilarity:
      return MixtureObjective(loss: loss, sampleSimilarity: sampleSimilarity)
    case .single, .original, .attentive, .distilled:
      return MixtureObjective(loss: loss)
    }
  }
}
