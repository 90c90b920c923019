import Foundation
import TensorCore

/// What an expert's evidence score measures: "this sample belongs to me", fitted on the
/// expert's own task's samples only.
///
/// Every kind gives, per sample, one raw score per class of the expert (higher means more
/// likely that class) and an expert score: their logsumexp for energy, else their maximum.
public enum EvidenceKind: String, Sendable, CaseIterable {
  /// SEED-style class-conditional Gaussians on h_i, one covariance shared by the expert's
  /// classes and shrunk towards (tr Σ / d)·I: class score log N(h; μ_c, Σ).
  case gaussian
  /// Class-conditional Gaussians on h_i with a diagonal covariance per class, shrunk towards
  /// the class's mean variance: class score log N(h; μ_c, diag σ²_c).
  case diagonalGaussian = "diagonal-gaussian"
  /// Per class, the principal subspace of h_i (``EvidenceSettings/rank`` components):
  /// class score −‖residual of h − μ_c off the subspace‖².
  case subspace
  /// Probabilistic PCA per class (Tipping & Bishop): the subspace's top `rank` variances λ_r
  /// plus isotropic noise σ² = the mean discarded variance; class score log p(h | c).
  case probabilisticSubspace = "ppca"
  /// The energy of the expert's logits: class scores the logits of the expert's classes,
  /// expert score their logsumexp. Nothing is fitted but the calibration.
  case energy
}

/// How raw scores of experts trained at different times are made comparable.
public enum EvidenceCalibration: String, Sendable, CaseIterable {
  /// The raw expert score.
  case raw
  /// (S_e − mean) / std of the expert score S_e over the expert's training samples.
  case expertZ = "expert-z"
  /// max over classes c of (s_c − mean_c) / std_c, with class c's statistics over the
  /// training samples of class c.
  case classZ = "class-z"
  /// The normal score Φ⁻¹(F(S_e)) of the expert score's empirical CDF F over the training
  /// samples, continued linearly with slope 1/std beyond the extreme quantiles.
  case rank
}

/// The fitting settings of an ``ExpertEvidence``.
public struct EvidenceSettings: Sendable, Equatable {
  /// The score kind.
  public var kind: EvidenceKind
  /// α in [0, 1]: covariances become (1 − α)·Σ + α·(mean variance)·I.
  public var shrinkage: Double
  /// Principal components kept per class by `subspace` and `ppca`, at most d − 1.
  public var rank: Int
  /// Quantiles kept for ``EvidenceCalibration/rank``, at least 2.
  public var quantiles: Int

  /// Settings for `kind`; shrinkage 0.1, rank 8, 257 quantiles unless given.
  public init(kind: EvidenceKind, shrinkage: Double = 0.1, rank: Int = 8, quantiles: Int = 257) {
    (self.kind, self.shrinkage, self.rank, self.quantiles) = (kind, shrinkage, rank, quantiles)
  }
}

/// One expert's evidence score and its calibration, fitted once (when the expert is frozen)
/// on its own task's training samples and fixed afterwards.
///
/// Sizes: N samples, d = h_i's size, K = the mixture's class count, C = the expert's
/// classes. Statistics are accumulated in Float32 by BLAS and factorised in Float64.
public struct ExpertEvidence: Sendable {
  /// The settings it was fitted with.
  public let settings: EvidenceSettings
  /// The expert's classes (global ids), in the order of its class scores.
  public let classes: [Int]
  /// μ_c per class, C × d (empty for energy).
  let means: [[Float]]
  /// Per class: the whitening matrix L⁻¹ (d×d row-major, lower triangular) of the shared
  /// covariance, the inverse variances (d) for diagonal Gaussians, or the subspace basis
  /// (rank × d) for subspaces.
  let transforms: [[Float]]
  /// Per class: −½ log det Σ_c − (d/2) log 2π (Gaussians, PPCA), else 0; and the PPCA
  /// noise variance σ²_c (else 1).
  let normalisers: [Double], noises: [Double]
  /// Mean and standard deviation of the expert score over the training samples, and per
  /// class of its class score over its training samples.
  public internal(set) var expertMean: Double, expertStd: Double
  /// Per class, the mean and standard deviation of its class score over its own training
  /// samples (``EvidenceCalibration/classZ``).
  public internal(set) var classMeans: [Double], classStds: [Double]
  /// Sorted expert scores at evenly spaced ranks, and their normal scores Φ⁻¹((r + ½)/N).
  var quantileValues: [Double], quantileNormals: [Double]

  /// Fits the score on the expert's outputs for its own task's training samples.
  ///
  /// - Parameters:
  ///   - classes: The expert's classes; every label must be one of them, and each must
  ///     have at least 2 samples.
  ///   - hidden: h_i of the samples, [N, d], or any other feature vector the expert owns
  ///     (e.g. its flattened input: every expert then scores in the same space).
  ///   - logits: o_i of the samples, [N, K]; only ``EvidenceKind/energy`` reads them, and
  ///     needs them.
  ///   - labels: N global class ids.
  /// - Throws: ``EvidenceError`` on mismatched sizes, a label outside `classes`, a class
  ///   with fewer than 2 samples, or a singular covariance (use shrinkage > 0).
  public static func fit(
    _ settings: EvidenceSettings, classes: [Int], hidden: Tensor, logits: Tensor? = nil,
    labels: [Int]
  ) throws -> ExpertEvidence {
    let (n, d) = try sizes(
      hidden, logits, count: labels.count, classes: classes, kind: settings.kind)
    let slots = labels.map { classes.firstIndex(of: $0) ?? -1 }
    if let bad = slots.firstIndex(of: -1) {
      throw EvidenceError.invalid("label \(labels[bad]) is not one of the expert's \(classes)")
    }
    let members = classes.indices.map { c in slots.indices.filter { slots[$0] == c } }
    if let thin = members.firstIndex(where: { $0.count < 2 }) {
      throw EvidenceError.invalid("class \(classes[thin]) has fewer than 2 samples")
    }
    var (means, transforms, normalisers): ([[Float]], [[Float]], [Double]) = ([], [], [])
    var noises = [Double](repeating: 1, count: classes.count)
    let logTwoPi = (Double(d) / 2) * log(2 * Double.pi)
    if settings.kind != .energy {
      // Per class mean and scatter (d×d), centred on the class mean, by BLAS in Float32.
      var scatters: [[Double]] = []
      try withGradientsDisabled {
        for rows in members {
          let x = rows.count == n ? hidden : try hidden.gather(rows, axis: 0)
          let mean = try x.sum(axis: 0, keepingDimension: true) * (1 / Float(rows.count))
          let centred = try x - mean
          means.append(mean.values)
          scatters.append(try centred.matmul(centred, transposeSelf: true).values.map(Double.init))
        }
      }
      switch settings.kind {
      case .gaussian:
        var shared = [Double](repeating: 0, count: d * d)
        for s in scatters { for k in 0..<(d * d) { shared[k] += s[k] } }
        // (1 − α)·Σ + α·(tr Σ / d)·I, Σ = the pooled scatter / (N − C).
        let (a, dof) = (settings.shrinkage, Double(n - classes.count))
        var covariance = shared.map { (1 - a) * $0 / dof }
        let average = (0..<d).reduce(0.0) { $0 + shared[$1 * d + $1] } / (Double(d) * dof)
        for i in 0..<d { covariance[i * d + i] += a * average }
        let (whitening, logDet) = try whiten(covariance, d)
        transforms = Array(repeating: whitening.map(Float.init), count: classes.count)
        normalisers = Array(repeating: -0.5 * logDet - logTwoPi, count: classes.count)
      case .diagonalGaussian:
        for (c, s) in scatters.enumerated() {
          let variances = (0..<d).map { s[$0 * d + $0] / Double(members[c].count - 1) }
          let (a, average) = (settings.shrinkage, variances.reduce(0, +) / Double(d))
          let shrunkVariances = variances.map { (1 - a) * $0 + a * average }
          guard shrunkVariances.allSatisfy({ $0 > 0 }) else {
            throw EvidenceError.invalid("class \(classes[c]) has a zero variance")
          }
          transforms.append(shrunkVariances.map { Float(1 / $0) })
          normalisers.append(-0.5 * shrunkVariances.reduce(0) { $0 + log($1) } - logTwoPi)
        }
      case .subspace, .probabilisticSubspace:
        let k = min(settings.rank, d - 1)
        for (c, s) in scatters.enumerated() {
          let covariance = s.map { Float($0 / Double(members[c].count - 1)) }
          var (basis, variances) = try principalBasis(covariance, d, rank: k)
          let trace = (0..<d).reduce(0.0) { $0 + Double(covariance[$1 * d + $1]) }
          let kept = variances.reduce(0, +)
          let noise = max((trace - kept) / Double(d - k), 1e-6 * trace / Double(d))
          if settings.kind == .probabilisticSubspace {  // rows q_r·√(1 − σ²/λ_r)
            variances = variances.map { max($0, noise) }
            for r in 0..<k {
              let scale = Float((1 - noise / variances[r]).squareRoot())
              for j in 0..<d { basis[r * d + j] *= scale }
            }
            noises[c] = noise
          }
          transforms.append(basis)
          let logDet = variances.reduce(0) { $0 + log($1) } + Double(d - k) * log(noise)
          normalisers.append(settings.kind == .subspace ? 0 : -0.5 * logDet - logTwoPi)
        }
      case .energy: break
      }
    }
    var evidence = ExpertEvidence(
      settings: settings, classes: classes, means: means, transforms: transforms,
      normalisers: normalisers, noises: noises, expertMean: 0, expertStd: 1, classMeans: [],
      classStds: [], quantileValues: [], quantileNormals: [])
    // Calibration statistics of the fitted score on the same samples.
    let scores = try evidence.classScores(hidden: hidden, logits: logits)
    let expert = scores.map { evidence.aggregate($0) }
    (evidence.expertMean, evidence.expertStd) = meanAndStd(expert)
    let perClass = members.indices.map { c in meanAndStd(members[c].map { scores[$0][c] }) }
    (evidence.classMeans, evidence.classStds) = (perClass.map(\.0), perClass.map(\.1))
    let sorted = expert.sorted()
    let levels = max(settings.quantiles, 2)
    let ranks = (0..<levels).map { Int((Double($0 * (n - 1)) / Double(levels - 1)).rounded()) }
    evidence.quantileValues = ranks.map { sorted[$0] }
    evidence.quantileNormals = ranks.map { inverseNormal((Double($0) + 0.5) / Double(n)) }
    return evidence
  }

  /// The raw class scores, B rows of C values.
  ///
  /// - Parameters:
  ///   - hidden: h_i, [B, d] with the d it was fitted on.
  ///   - logits: o_i, [B, K] (energy only).
  public func classScores(hidden: Tensor, logits: Tensor? = nil) throws -> [[Double]] {
    let (batch, d) = try sizes(hidden, logits, count: nil)
    if settings.kind == .energy, let logits {
      let (k, o) = (logits.shape[1], logits.values)
      return (0..<batch).map { b in classes.map { Double(o[b * k + $0]) } }
    }
    guard means.first?.count == d else {
      throw EvidenceError.invalid("hidden size \(d), fitted on \(means.first?.count ?? 0)")
    }
    // Blocks of 1024 rows keep the temporaries small (d = 784 pixels: 3 MB each).
    var perClass = Array(repeating: [Float](), count: classes.count)
    for first in stride(from: 0, to: batch, by: 1024) {
      let rows = try hidden.gather(Array(first..<min(batch, first + 1024)), axis: 0)
      try withGradientsDisabled {
        for c in classes.indices {
          let x = try rows - Tensor(shape: [1, d], values: means[c])
          let t = transforms[c]
          switch settings.kind {
          case .gaussian:
            let y = try x.matmul(Tensor(shape: [d, d], values: t), transposeOther: true)
            perClass[c] += try (y * y).sum(axis: 1).values
          case .diagonalGaussian:
            perClass[c] += try (x * x * Tensor(shape: [1, d], values: t)).sum(axis: 1).values
          case .subspace, .probabilisticSubspace:
            let p = try x.matmul(Tensor(shape: [t.count / d, d], values: t), transposeOther: true)
            perClass[c] += try ((x * x).sum(axis: 1) - (p * p).sum(axis: 1)).values
          case .energy: break
          }
        }
      }
    }
    return (0..<batch).map { b in
      classes.indices.map { c in
        let value = Double(perClass[c][b])
        if settings.kind == .subspace { return -max(value, 0) }
        return normalisers[c] - 0.5 * max(value, 0) / noises[c]
      }
    }
  }

  /// The expert score of one sample's class scores: logsumexp for energy, else the maximum.
  public func aggregate(_ scores: [Double]) -> Double {
    let top = scores.max() ?? -.infinity
    guard settings.kind == .energy, top.isFinite else { return top }
    return top + log(scores.reduce(0) { $0 + exp($1 - top) })
  }

  /// Calibrated expert scores and the best class by evidence, per sample.
  ///
  /// - Returns: B scores (higher = more evidence) and B global class ids.
  public func calibratedScores(
    hidden: Tensor, logits: Tensor? = nil, calibration: EvidenceCalibration
  ) throws -> (scores: [Double], classes: [Int]) {
    let raw = try classScores(hidden: hidden, logits: logits)
    var (scores, best): ([Double], [Int]) = ([], [])
    for row in raw {
      let z = row.indices.map { (row[$0] - classMeans[$0]) / classStds[$0] }
      let ranked = calibration == .classZ ? z : row
      best.append(classes[ranked.indices.max { ranked[$0] < ranked[$1] } ?? 0])
      switch calibration {
      case .raw: scores.append(aggregate(row))
      case .expertZ: scores.append((aggregate(row) - expertMean) / expertStd)
      case .classZ: scores.append(z.max() ?? -.infinity)
      case .rank: scores.append(normalScore(aggregate(row)))
      }
    }
    return (scores, best)
  }

  /// Φ⁻¹ of the empirical CDF at `value`, interpolated between kept quantiles.
  func normalScore(_ value: Double) -> Double {
    let (q, last) = (quantileValues, quantileValues.count - 1)
    if value <= q[0] { return quantileNormals[0] + (value - q[0]) / expertStd }
    if value >= q[last] { return quantileNormals[last] + (value - q[last]) / expertStd }
    var (low, high) = (0, last)  // q[low] < value < q[high]
    while high - low > 1 {
      let middle = (low + high) / 2
      if q[middle] <= value { low = middle } else { high = middle }
    }
    let w = q[high] > q[low] ? (value - q[low]) / (q[high] - q[low]) : 0
    return quantileNormals[low] + w * (quantileNormals[high] - quantileNormals[low])
  }

  private func sizes(_ hidden: Tensor, _ logits: Tensor?, count: Int?) throws -> (Int, Int) {
    try Self.sizes(hidden, logits, count: count, classes: classes, kind: settings.kind)
  }

  private static func sizes(
    _ hidden: Tensor, _ logits: Tensor?, count: Int?, classes: [Int], kind: EvidenceKind
  ) throws -> (Int, Int) {
    let logitsFit = logits.map { logits in
      logits.rank == 2 && logits.shape[0] == hidden.shape[0]
        && classes.allSatisfy { $0 < logits.shape[1] }
    }
    guard hidden.rank == 2, logitsFit ?? (kind != .energy),
      count.map({ $0 == hidden.shape[0] }) ?? true, !classes.isEmpty,
      classes.allSatisfy({ $0 >= 0 })
    else {
      throw EvidenceError.invalid(
        "hidden \(hidden.shape), logits \(logits?.shape.description ?? "none"), labels "
          + "\(count ?? -1), \(classes)")
    }
    return (hidden.shape[0], hidden.shape[1])
  }
}

/// The evidence of every expert of a mixture, routing each sample to the expert with the
/// best calibrated score; needs no stored sample.
public struct EvidenceRouter: Sendable {
  /// One fitted score per expert, in the mixture's order.
  public var experts: [ExpertEvidence]

  /// A router over the given experts' evidence.
  public init(experts: [ExpertEvidence]) { self.experts = experts }

  /// Routes a batch.
  ///
  /// - Parameters:
  ///   - hidden: h_i per expert, each [B, d_i].
  ///   - logits: o_i per expert, each [B, K].
  /// - Returns: The calibrated scores (B rows of E), the winning expert per sample, and
  ///   the best class by evidence of the winning expert.
  /// - Throws: ``EvidenceError`` when the outputs do not match the experts.
  public func route(hidden: [Tensor], logits: [Tensor], calibration: EvidenceCalibration)
    throws -> (scores: [[Double]], experts: [Int], classes: [Int])
  {
    guard hidden.count == experts.count, logits.count == experts.count, !experts.isEmpty else {
      throw EvidenceError.invalid(
        "outputs of \(hidden.count) / \(logits.count) experts for \(experts.count) evidences")
    }
    let perExpert = try experts.indices.map {
      try experts[$0].calibratedScores(
        hidden: hidden[$0], logits: logits[$0], calibration: calibration)
    }
    let scores = (0..<hidden[0].shape[0]).map { b in perExpert.map { $0.scores[b] } }
    let winners = scores.map { row in row.indices.max { row[$0] < row[$1] } ?? 0 }
    return (scores, winners, winners.indices.map { perExpert[winners[$0]].classes[$0] })
  }
}

/// Evidence that cannot be fitted or evaluated.
public enum EvidenceError: Error, CustomStringConvertible, Equatable {
  /// Why: shapes that disagree, a class with too few samples, a label outside the classes.
  case invalid(String)

  public var description: String {
    guard case .invalid(let detail) = self else { return "evidence" }
    return "evidence: \(detail)"
  }
}
