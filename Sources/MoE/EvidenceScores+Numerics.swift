import Foundation
import TensorCore

// MARK: - Numerics (Float64)

/// L⁻¹ of the Cholesky factor L of a positive definite Σ (row-major, lower) and log det Σ.
func whiten(_ sigma: [Double], _ d: Int) throws -> ([Double], Double) {
  var l = [Double](repeating: 0, count: d * d)
  for i in 0..<d {
    for j in 0...i {
      var s = sigma[i * d + j]
      for k in 0..<j { s -= l[i * d + k] * l[j * d + k] }
      if i == j {
        guard s > 0 else { throw EvidenceError.invalid("covariance not positive definite") }
        l[i * d + i] = s.squareRoot()
      } else {
        l[i * d + j] = s / l[j * d + j]
      }
    }
  }
  var inverse = [Double](repeating: 0, count: d * d)
  for column in 0..<d {  // forward substitution of L·x = e_column
    for i in column..<d {
      var s = i == column ? 1.0 : 0.0
      for k in column..<i { s -= l[i * d + k] * inverse[k * d + column] }
      inverse[i * d + column] = s / l[i * d + i]
    }
  }
  return (inverse, (0..<d).reduce(0) { $0 + 2 * log(l[$1 * d + $1]) })
}

/// The top `rank` eigenvectors of a symmetric d×d matrix by orthogonal iteration (rank × d)
/// and their eigenvalues.
func principalBasis(_ m: [Float], _ d: Int, rank: Int) throws -> ([Float], [Double]) {
  let product = try Tensor(shape: [d, d], values: m)
  // A fixed, full-rank start: the identity's first rows plus a deterministic perturbation.
  var basis = (0..<(rank * d)).map {
    Float(($0 * 7919) % 101) / 101 - 0.5 + ($0 % (d + 1) == 0 ? 1 : 0)
  }
  var eigenvalues = [Double](repeating: 0, count: rank)
  for _ in 0..<150 {
    var next = try withGradientsDisabled {
      try Tensor(shape: [rank, d], values: basis).matmul(product).values.map(Double.init)
    }
    for r in 0..<rank {  // Gram–Schmidt
      for p in 0..<r {
        let dot = (0..<d).reduce(0.0) { $0 + next[r * d + $1] * next[p * d + $1] }
        for j in 0..<d { next[r * d + j] -= dot * next[p * d + j] }
      }
      let squares = (0..<d).reduce(0.0) { $0 + next[r * d + $1] * next[r * d + $1] }
      eigenvalues[r] = squares.squareRoot()  // ‖M q_r‖ = λ_r once converged
      for j in 0..<d { next[r * d + j] /= max(squares.squareRoot(), 1e-300) }
    }
    basis = next.map(Float.init)
  }
  return (basis, eigenvalues)
}

/// Mean and standard deviation (population; at least 1e-12).
func meanAndStd(_ values: [Double]) -> (Double, Double) {
  let mean = values.reduce(0, +) / Double(max(values.count, 1))
  let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count, 1))
  return (mean, max(variance.squareRoot(), 1e-12))
}

/// Φ⁻¹(p) by bisection on Φ(x) = ½ erfc(−x/√2), for p in (0, 1).
func inverseNormal(_ p: Double) -> Double {
  var (low, high) = (-10.0, 10.0)
  for _ in 0..<80 {
    let middle = (low + high) / 2
    if 0.5 * erfc(-middle / 2.0.squareRoot()) < p { low = middle } else { high = middle }
  }
  return (low + high) / 2
}
