import Foundation
import MoE
import TensorCore
import Testing

/// `count` draws of N(mean, std²) as hidden vectors [count, 1], with dummy logits [count, 2].
private func gaussianSamples(count: Int, mean: Double, std: Double, seed: UInt64) throws
  -> (hidden: Tensor, logits: Tensor)
{
  var generator = RandomGenerator(seed: seed)
  let values = (0..<count).map { _ in Float(mean + std * Double(generator.nextNormal())) }
  return (
    try Tensor(shape: [count, 1], values: values),
    try Tensor(shape: [count, 2], repeating: 0)
  )
}

/// One-dimensional experts: A fitted on N(0, 1) (class 0), B on N(3, 2²) (class 1).
private func oneDimensionalExperts(_ kind: EvidenceKind) throws -> [ExpertEvidence] {
  let settings = EvidenceSettings(kind: kind, shrinkage: 0, quantiles: 1025)
  let n = 40000
  let a = try gaussianSamples(count: n, mean: 0, std: 1, seed: 1)
  let b = try gaussianSamples(count: n, mean: 3, std: 2, seed: 2)
  return [
    try ExpertEvidence.fit(
      settings, classes: [0], hidden: a.hidden, logits: a.logits,
      labels: Array(repeating: 0, count: n)),
    try ExpertEvidence.fit(
      settings, classes: [1], hidden: b.hidden, logits: b.logits,
      labels: Array(repeating: 1, count: n)),
  ]
}

/// Φ⁻¹ by bisection on erfc, in Double.
private func probit(_ p: Double) -> Double {
  var (low, high) = (-10.0, 10.0)
  for _ in 0..<80 {
    let middle = (low + high) / 2
    if 0.5 * erfc(-middle / 2.0.squareRoot()) < p { low = middle } else { high = middle }
  }
  return (low + high) / 2
}

@Suite("Evidence scores")
struct EvidenceScoresTests {
  /// The log-density L = −½u² − log σ − ½ log 2π (u = (x − μ)/σ) has, on the expert's own
  /// samples, mean −½ − log σ − ½ log 2π and standard deviation 1/√2 (½·sd of χ²₁), so its
  /// z-score is (1 − u²)/√2 whatever σ; its empirical CDF is P(|U| ≥ |u|) = erfc(|u|/√2).
  @Test(
    "Gaussian calibration matches closed form on two 1-D Gaussians",
    arguments: [EvidenceKind.gaussian, .diagonalGaussian])
  func closedFormCalibration(kind: EvidenceKind) throws {
    let experts = try oneDimensionalExperts(kind)
    let halfLogTwoPi = 0.5 * log(2 * Double.pi)
    for (expert, sigma) in zip(experts, [1.0, 2.0]) {
      #expect(abs(expert.expertMean - (-0.5 - log(sigma) - halfLogTwoPi)) < 0.02)
      #expect(abs(expert.expertStd - 1 / 2.0.squareRoot()) < 0.02)
    }
    let router = EvidenceRouter(experts: experts)
    let points: [Float] = [1.2, -0.5, 2.0, 6.0]
    let hidden = try Tensor(shape: [points.count, 1], values: points)
    let logits = try Tensor(shape: [points.count, 2], repeating: 0)
    let inputs = (Array(repeating: hidden, count: 2), Array(repeating: logits, count: 2))
    let u = points.map { x in [Double(x), (Double(x) - 3) / 2] }  // per expert
    // z-scores: (1 − u²)/√2; the same for expert-z and class-z (one class per expert).
    for calibration in [EvidenceCalibration.expertZ, .classZ] {
      let routed = try router.route(hidden: inputs.0, logits: inputs.1, calibration: calibration)
      for (p, row) in routed.scores.enumerated() {
        for e in 0..<2 {
          let expected = (1 - u[p][e] * u[p][e]) / 2.0.squareRoot()
          #expect(abs(row[e] - expected) < 0.03 + 0.02 * abs(expected))
        }
        let expected = abs(u[p][0]) < abs(u[p][1]) ? 0 : 1
        #expect(routed.experts[p] == expected)
        #expect(routed.classes[p] == expected)
      }
    }
    // At x = 1.2 the raw densities favour A (−1.639 > −2.017), the calibrated ones B
    // (|u_B| = 0.9 < |u_A| = 1.2).
    let raw = try router.route(hidden: inputs.0, logits: inputs.1, calibration: .raw)
    #expect(raw.experts[0] == 0)
    #expect(abs(raw.scores[0][0] - (-0.72 - halfLogTwoPi)) < 0.02)
    #expect(abs(raw.scores[0][1] - (-0.405 - log(2.0) - halfLogTwoPi)) < 0.03)
    // Rank calibration: Φ⁻¹(erfc(|u|/√2)) inside the sampled range.
    let ranked = try router.route(hidden: inputs.0, logits: inputs.1, calibration: .rank)
    for p in 0..<3 {
      for e in 0..<2 {
        let expected = probit(erfc(abs(u[p][e]) / 2.0.squareRoot()))
        #expect(abs(ranked.scores[p][e] - expected) < 0.03, "point \(p) expert \(e)")
      }
    }
    #expect(ranked.experts[0] == 1)
  }

  @Test("a subspace score is minus the residual off the principal directions")
  func subspaceResidual() throws {
    // Points along (1, 1)/√2 with a little spread across it; rank 1 keeps the long axis.
    var generator = RandomGenerator(seed: 3)
    var values: [Float] = []
    for _ in 0..<4000 {
      let root = Float(2).squareRoot()
      let along: Float = 3 * generator.nextNormal()
      let across: Float = 0.1 * generator.nextNormal()
      let x: Float = 1 + (along + across) / root
      let y: Float = 2 + (along - across) / root
      values += [x, y]
    }
    let hidden = try Tensor(shape: [4000, 2], values: values)
    let logits = try Tensor(shape: [4000, 1], repeating: 0)
    let evidence = try ExpertEvidence.fit(
      EvidenceSettings(kind: .subspace, rank: 1), classes: [0], hidden: hidden, logits: logits,
      labels: Array(repeating: 0, count: 4000))
    // (1, 2) + (1, −1): residual √2 across the axis, squared 2; (1, 2) + 5·(1, 1): 0.
    let probe = try Tensor(shape: [2, 2], values: [2, 1, 6, 7])
    let scores = try evidence.classScores(
      hidden: probe, logits: try Tensor(shape: [2, 1], repeating: 0))
    #expect(abs(scores[0][0] + 2) < 0.05)
    #expect(abs(scores[1][0]) < 0.05)
  }

  @Test("PPCA is the Gaussian of the top-rank covariance plus isotropic noise")
  func probabilisticSubspace() throws {
    // Variance 9 along (1, 1)/√2, 0.01 across it: rank 1 keeps λ = 9, σ² = 0.01.
    var generator = RandomGenerator(seed: 4)
    var values: [Float] = []
    let count = 40000
    for _ in 0..<count {
      let root = Float(2).squareRoot()
      let along: Float = 3 * generator.nextNormal()
      let across: Float = 0.1 * generator.nextNormal()
      let x: Float = 1 + (along + across) / root
      let y: Float = 2 + (along - across) / root
      values += [x, y]
    }
    let evidence = try ExpertEvidence.fit(
      EvidenceSettings(kind: .probabilisticSubspace, rank: 1), classes: [0],
      hidden: try Tensor(shape: [count, 2], values: values),
      logits: try Tensor(shape: [count, 1], repeating: 0),
      labels: Array(repeating: 0, count: count))
    // log p = −½ (a²/λ + r²/σ² + log λ + log σ²) − log 2π, a along and r across the axis.
    let probe = try Tensor(shape: [2, 2], values: [2, 1, 6, 7])
    let scores = try evidence.classScores(
      hidden: probe, logits: try Tensor(shape: [2, 1], repeating: 0))
    let constant = -0.5 * (log(9.0) + log(0.01)) - log(2 * Double.pi)
    #expect(abs(scores[0][0] - (constant - 0.5 * 2 / 0.01)) < 2.5)
    #expect(abs(scores[1][0] - (constant - 0.5 * 50 / 9)) < 0.1)
  }

  @Test("energy is the logsumexp of the expert's own logits")
  func energy() throws {
    let logits = try Tensor(
      shape: [4, 4], values: [1, 2, 9, 9, 0, 0, 9, 9, -1, 3, 9, 9, 5, 1, 9, 9])
    let hidden = try Tensor(shape: [4, 1], values: [0, 0, 0, 0])
    let evidence = try ExpertEvidence.fit(
      EvidenceSettings(kind: .energy), classes: [0, 1], hidden: hidden, logits: logits,
      labels: [0, 1, 1, 0])
    let raw = try evidence.calibratedScores(hidden: hidden, logits: logits, calibration: .raw)
    let expected = [
      log(exp(1.0) + exp(2.0)), log(2.0), log(exp(-1.0) + exp(3.0)), log(exp(5.0) + exp(1.0)),
    ]
    for (a, b) in zip(raw.scores, expected) { #expect(abs(a - b) < 1e-5) }
    #expect(raw.classes == [1, 0, 1, 0])
    let mean = expected.reduce(0, +) / 4
    let std = (expected.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 4).squareRoot()
    #expect(abs(evidence.expertMean - mean) < 1e-5)
    #expect(abs(evidence.expertStd - std) < 1e-5)
  }

  @Test("a shared-covariance Gaussian scores classes by Mahalanobis distance")
  func sharedCovariance() throws {
    // Two classes with means (0, 0) and (4, 0), covariance diag(1, 9).
    var generator = RandomGenerator(seed: 5)
    var values: [Float] = []
    var labels: [Int] = []
    for i in 0..<8000 {
      let label = i % 2 == 0 ? 3 : 7
      let x: Float = (label == 3 ? 0 : 4) + generator.nextNormal()
      let y: Float = 3 * generator.nextNormal()
      values += [x, y]
      labels.append(label)
    }
    let evidence = try ExpertEvidence.fit(
      EvidenceSettings(kind: .gaussian, shrinkage: 0), classes: [3, 7],
      hidden: try Tensor(shape: [8000, 2], values: values),
      logits: try Tensor(shape: [8000, 8], repeating: 0), labels: labels)
    // (1.5, 6): nearer (0, 0) in Mahalanobis distance; (2.5, 0): nearer (4, 0).
    let probe = try Tensor(shape: [2, 2], values: [1.5, 6, 2.5, 0])
    let scores = try evidence.classScores(
      hidden: probe, logits: try Tensor(shape: [2, 8], repeating: 0))
    let normaliser = -0.5 * log(9.0) - log(2 * Double.pi)
    #expect(abs(scores[0][0] - (normaliser - 0.5 * (2.25 + 4))) < 0.1)
    #expect(abs(scores[0][1] - (normaliser - 0.5 * (6.25 + 4))) < 0.1)
    let routed = try evidence.calibratedScores(
      hidden: probe, logits: try Tensor(shape: [2, 8], repeating: 0), calibration: .classZ)
    #expect(routed.classes == [3, 7])
  }

  @Test("fitting rejects labels outside the expert's classes and thin classes")
  func errors() throws {
    let hidden = try Tensor(shape: [3, 1], values: [0, 1, 2])
    let logits = try Tensor(shape: [3, 2], repeating: 0)
    #expect(throws: EvidenceError.self) {
      try ExpertEvidence.fit(
        EvidenceSettings(kind: .gaussian), classes: [0], hidden: hidden, logits: logits,
        labels: [0, 1, 0])
    }
    #expect(throws: EvidenceError.self) {
      try ExpertEvidence.fit(
        EvidenceSettings(kind: .gaussian), classes: [0, 1], hidden: hidden, logits: logits,
        labels: [0, 1, 0])
    }
  }
}
