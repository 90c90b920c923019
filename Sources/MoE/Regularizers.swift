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

  public init(betaSame: Float, betaDifferent: Float, placement: SampleSimilarityPlacement = .both) {
    self.betaSame = betaSame
    self.betaDifferent = betaDifferent
    self.placement = placement
  }

  /// The Euclidean distances between the batch's flattened samples, divided by their
  /// maximum, by one GEMM: ‖x − x'‖² = ‖x‖² + ‖x'‖² − 2·x·x'.
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
    let batch = inputs.shape[0]
    return try withGradientsDisabled {
      let flat = try inputs.detached().reshaped([batch, -1])
      let gram = try flat.matmul(flat, transposeOther: true)
      let g = gram.storage.pointer
      var largest: Float = 0
      var squared = [Float](repeating: 0, count: batch)
      for i in 0..<batch { squared[i] = g[i * batch + i] }
      for i in 0..<batch {
        for j in 0..<batch {
          let value =
            i == j ? 0 : Swift.max(0, squared[i] + squared[j] - 2 * g[i * batch + j]).squareRoot()
          g[i * batch + j] = value
          largest = Swift.max(largest, value)
        }
      }
      if largest > 0 {
        let scale = 1 / largest
        for k in 0..<batch * batch { g[k] *= scale }
      }
      return gram
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
    let (batch, experts) = (Float(gate.shape[0]), Float(gate.shape[1]))
    let within = try gate.matmul(gate, transposeOther: true)
    let same = try (within * distances).sum() / experts
    let batchSquared = batch * batch
    guard experts > 1 else {
      return same * (betaSame / batchSquared)
    }
    let rowSums = try gate.sum(axis: 1, keepingDimension: true)
    let all = try rowSums.matmul(rowSums, transposeOther: true)
    let different = try ((all - within) * distances).sum() / (experts * experts - experts)
    switch placement {
    case .both:
      return try (same * betaSame - different * betaDifferent) / batchSquared
    case .differentOnly:
      return try same * betaSame - different * (betaDifferent / batchSquared)
    }
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
