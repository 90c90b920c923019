import TensorCore

// MARK: - Sample similarity

/// Where the sample-similarity loss divides by B².
public enum SampleSimilarityPlacement: String, Sendable, CaseIterable {
  /// (β_s·S − β_d·D) / B², the form paper.md gives.
  case both
  /// β_s·S − β_d·D / B², as the authors' code computes it (operator precedence).
  case differentOnly = "different-only"
}

/// The sample-similarity regularizer L_s: samples close in input space should go to the
/// same expert, distant samples to different experts.
///
/// With G the gate probabilities [B, E] and D the batch's normalised distance matrix:
/// S = Σ (G·Gᵀ ⊙ D) / E (distance inside an expert), Dd = Σ ((r·rᵀ − G·Gᵀ) ⊙ D) / (E² − E)
/// with r = G·1 (distance across experts), and L_s = (β_s·S − β_d·Dd) / B² (see
/// ``SampleSimilarityPlacement``). With one expert Dd is 0.
public struct SampleSimilarityRegularizer: Sendable, Equatable {
  /// β_s, the weight of the within-expert distance.
  public var betaSame: Float
  /// β_d, the weight of the across-expert distance.
  public var betaDifferent: Float
  /// Where B² divides.
  public var placement: SampleSimilarityPlacement

  /// L_s with weights β_s and β_d, B² placed as `placement` says.
  public init(betaSame: Float, betaDifferent: Float, placement: SampleSimilarityPlacement = .both) {
    self.betaSame = betaSame
    self.betaDifferent = betaDifferent
    self.placement = placement
  }

  /// The Euclidean distances between the batch's flattened samples, divided by their
  /// maximum (``Tensor/pairwiseDistances()``: half a GEMM from the Gram matrix).
  ///
  /// Computed without gradient (it depends on the inputs only). The diagonal is exactly 0;
  /// rounding below 0 is clamped. An all-zero matrix (identical samples) stays 0.
  /// - Parameter inputs: [B, …].
  /// - Returns: [B, B].
  public static func distanceMatrix(_ inputs: Tensor) throws -> Tensor {
    guard inputs.rank >= 1 else {
      throw TensorError.invalidShape(
        operation: "distanceMatrix", shape: inputs.shape, expected: "[B, …]")
    }
    return try withGradientsDisabled {
      let distances = try inputs.detached().reshaped([inputs.shape[0], -1]).pairwiseDistances()
      let largest = try distances.reshaped([-1]).max(axis: 0).item()
      return largest > 0 ? distances * (1 / largest) : distances
    }
  }

  /// L_s for gate probabilities and the batch's distance matrix.
  ///
  /// - Parameters:
  ///   - gate: [B, E] gate probabilities.
  ///   - distances: [B, B], from ``distanceMatrix(_:)``.
  /// - Returns: A scalar.
  public func loss(gate: Tensor, distances: Tensor) throws -> Tensor {
    guard gate.rank == 2, distances.shape == [gate.shape[0], gate.shape[0]] else {
      throw TensorError.shapeMismatch(
        operation: "sample similarity", lhs: gate.shape, rhs: distances.shape,
        expected: "gate [B, E] and distances [B, B]")
    }
    // S = Σ (G·Gᵀ ⊙ D) = tr(Gᵀ·D·G) and Σ (r·rᵀ ⊙ D) = rᵀ·D·r, so L_s is
    // cS·tr(Gᵀ·D·G) + cT·rᵀ·D·r: one fused op, no [B, B] intermediates.
    let (batch, experts) = (Float(gate.shape[0]), Float(gate.shape[1]))
    let batchSquared = batch * batch
    guard experts > 1 else {
      return try gate.quadraticForm(
        distances, traceWeight: betaSame / batchSquared, rowSumWeight: 0)
    }
    let pairs = experts * experts - experts
    let (traceWeight, rowSumWeight): (Float, Float)
    switch placement {
    case .both:
      traceWeight = (betaSame / experts + betaDifferent / pairs) / batchSquared
      rowSumWeight = -betaDifferent / pairs / batchSquared
    case .differentOnly:
      traceWeight = betaSame / experts + betaDifferent / (pairs * batchSquared)
      rowSumWeight = -betaDifferent / (pairs * batchSquared)
    }
    return try gate.quadraticForm(
      distances, traceWeight: traceWeight, rowSumWeight: rowSumWeight)
  }
}

// MARK: - Importance

/// The importance regularizer of Shazeer et al. (2017): w · CV(Σ_x g(x))², the squared
/// coefficient of variation of the experts' total gate weight over the batch.
///
/// The standard deviation is the unbiased one (÷ (E − 1)), as `torch.std`; with one expert
/// the loss is 0.
public struct ImportanceRegularizer: Sendable, Equatable {
  /// w, the loss's weight.
  public var weight: Float

  /// L_imp with weight w.
  public init(weight: Float) { self.weight = weight }

  /// The loss for gate probabilities [B, E]; a scalar.
  public func loss(gate: Tensor) throws -> Tensor {
    guard gate.rank == 2 else {
      throw TensorError.invalidShape(operation: "importance", shape: gate.shape, expected: "[B, E]")
    }
    let experts = gate.shape[1]
    guard experts > 1 else { return try Tensor.zeros([]) }
    let importance = try gate.sum(axis: 0)
    let mean = try importance.mean()
    let variance = try (importance - mean).squared().sum() / Float(experts - 1)
    return try variance / mean.squared() * weight
  }
}
