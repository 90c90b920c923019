import TensorCore

/// The mean negative log-likelihood of `targets` under class probabilities,
/// −mean log(p[b, y_b] + `epsilon`).
///
/// The form the paper's dense mixture is trained with (ε = 1e-15 keeps a zero probability
/// finite).
/// - Parameters:
///   - probabilities: [B, K], rows summing to one.
///   - targets: B class indices in 0..<K.
/// - Returns: A scalar tensor.
/// - Throws: ``TensorError`` when the counts differ or a target is out of range.
public func negativeLogLikelihood(
  probabilities: Tensor, targets: [Int], epsilon: Float = 1e-15
) throws -> Tensor {
  try checkTargets(probabilities, targets, operation: "negativeLogLikelihood")
  let picked = try probabilities.takeAlongLastAxis(targets)
  return -(try (picked + epsilon).log().mean())
}

/// The mean negative log-likelihood of `targets` under log-probabilities,
/// −mean logp[b, y_b] (PyTorch's `nll_loss`).
///
/// - Parameters:
///   - logProbabilities: [B, K].
///   - targets: B class indices in 0..<K.
/// - Returns: A scalar tensor.
public func negativeLogLikelihood(logProbabilities: Tensor, targets: [Int]) throws -> Tensor {
  try checkTargets(logProbabilities, targets, operation: "negativeLogLikelihood")
  return -(try logProbabilities.takeAlongLastAxis(targets).mean())
}

/// The mean cross-entropy of `targets` under `logits` (PyTorch's `cross_entropy`):
/// log-softmax then negative log-likelihood, numerically stable.
///
/// - Parameters:
///   - logits: [B, K].
///   - targets: B class indices in 0..<K.
/// - Returns: A scalar tensor.
public func crossEntropy(logits: Tensor, targets: [Int]) throws -> Tensor {
  try negativeLogLikelihood(logProbabilities: logits.logSoftmax(axis: 1), targets: targets)
}

private func checkTargets(_ scores: Tensor, _ targets: [Int], operation: String) throws {
  guard scores.rank == 2, scores.shape[0] == targets.count else {
    throw TensorError.shapeMismatch(
      operation: operation, lhs: scores.shape, rhs: [targets.count],
      expected: "scores [B, K] and B targets")
  }
  if let bad = targets.first(where: { $0 < 0 || $0 >= scores.shape[1] }) {
    throw TensorError.indexOutOfRange(
      operation: operation, index: bad, axis: 1, shape: scores.shape)
  }
}
