extension Tensor {
  /// Batch normalisation over [N, C] or [N, C, H, W], per channel, as PyTorch's
  /// `batch_norm`.
  ///
  /// In training the batch's mean and biased variance normalise, and the running
  /// statistics (if given) move by `momentum` towards the batch's mean and unbiased
  /// variance; in evaluation the running statistics normalise.
  /// - Parameters:
  ///   - weight: γ, [C], or `nil` for 1.
  ///   - bias: β, [C], or `nil` for 0.
  ///   - runningMean: [C], updated in place in training.
  ///   - runningVariance: [C], updated in place in training.
  /// - Throws: ``TensorError`` naming the shapes when a [C] tensor does not match, or when
  ///   evaluation is asked for without running statistics.
  public func batchNorm(
    weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVariance: Tensor?,
    training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5
  ) throws -> Tensor {
    guard rank == 2 || rank == 4 else {
      throw TensorError.invalidShape(
        operation: "batchNorm", shape: shape, expected: "[N, C] or [N, C, H, W]")
    }
    let (batch, channels) = (shape[0], shape[1])
    let plane = rank == 4 ? shape[2] * shape[3] : 1
    for case let parameter? in [weight, bias, runningMean, runningVariance]
    where parameter.shape != [channels] {
      throw TensorError.shapeMismatch(
        operation: "batchNorm", lhs: shape, rhs: parameter.shape,
        expected: "per-channel tensors of shape [\(channels)]")
    }
    let perChannel = batch * plane
    var means = [Float](repeating: 0, count: channels)
    var inverseDeviations = [Float](repeating: 0, count: channels)
    if training {
      guard perChannel > 1 else {
        throw TensorError.invalidShape(
          operation: "batchNorm", shape: shape,
          expected: "more than one value per channel in training")
      }
      for c in 0..<channels {
        var total: Double = 0
        var totalSquares: Double = 0
        for n in 0..<batch {
          let source = storage.pointer + (n * channels + c) * plane
          for i in 0..<plane {
            total += Double(source[i])
          }
        }
        let mean = total / Double(perChannel)
        for n in 0..<batch {
          let source = storage.pointer + (n * channels + c) * plane
          for i in 0..<plane {
            let d = Double(source[i]) - mean
            totalSquares += d * d
          }
        }
        let variance = totalSquares / Double(perChannel)
        means[c] = Float(mean)
        inverseDeviations[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
        if let runningMean, let runningVariance {
          let unbiased = totalSquares / Double(perChannel - 1)
          runningMean.storage.pointer[c] =
            (1 - momentum) * runningMean.storage.pointer[c] + momentum * Float(mean)
          runningVariance.storage.pointer[c] =
            (1 - momentum) * runningVariance.storage.pointer[c] + momentum * Float(unbiased)
        }
      }
    } else {
      guard let runningMean, let runningVariance else {
        throw TensorError.invalidArgument(
          operation: "batchNorm", message: "evaluation needs running mean and variance")
      }
      for c in 0..<channels {
        means[c] = runningMean.storage.pointer[c]
        inverseDeviations[c] = 1 / (runningVariance.storage.pointer[c] + epsilon).squareRoot()
      }
    }
    let normalized = TensorStorage(uninitializedCount: count)
    let out = TensorStorage(uninitializedCount: count)
    for n in 0..<batch {
      for c in 0..<channels {
        let offset = (n * channels + c) * plane
        let (mean, scale) = (means[c], inverseDeviations[c])
        let gamma = weight?.storage.pointer[c] ?? 1
        let beta = bias?.storage.pointer[c] ?? 0
        for i in 0..<plane {
          let xhat = (storage.pointer[offset + i] - mean) * scale
          normalized.pointer[offset + i] = xhat
          out.pointer[offset + i] = gamma * xhat + beta
        }
      }
    }
    let inputShape = shape
    let inputs = [self] + [weight, bias].compactMap { $0 }
    let input = self
    return Tensor.result(shape, out, inputs: inputs, name: "batchNorm") { g in
      let dy = g.storage.pointer
      let xhat = normalized.pointer
      var sumDy = [Double](repeating: 0, count: channels)
      var sumDyXhat = [Double](repeating: 0, count: channels)
      for n in 0..<batch {
        for c in 0..<channels {
          let offset = (n * channels + c) * plane
          for i in 0..<plane {
            sumDy[c] += Double(dy[offset + i])
            sumDyXhat[c] += Double(dy[offset + i] * xhat[offset + i])
          }
        }
      }
      var gradInput: Tensor?
      if input.requiresGrad {
        let result = Tensor.zerosUnchecked(inputShape)
        for n in 0..<batch {
          for c in 0..<channels {
            let offset = (n * channels + c) * plane
            let gamma = weight?.storage.pointer[c] ?? 1
            let scale = gamma * inverseDeviations[c]
            if training {
              let meanDy = Float(sumDy[c] / Double(perChannel))
              let meanDyXhat = Float(sumDyXhat[c] / Double(perChannel))
              for i in 0..<plane {
                result.storage.pointer[offset + i] =
                  scale * (dy[offset + i] - meanDy - xhat[offset + i] * meanDyXhat)
              }
            } else {
              for i in 0..<plane { result.storage.pointer[offset + i] = scale * dy[offset + i] }
            }
          }
        }
        gradInput = result
      }
      var gradients: [Tensor?] = [gradInput]
      if let weight {
        gradients.append(
          weight.requiresGrad ? try Tensor(shape: [channels], values: sumDyXhat.map(Float.init)) : nil)
      }
      if let bias {
        gradients.append(
          bias.requiresGrad ? try Tensor(shape: [channels], values: sumDy.map(Float.init)) : nil)
      }
      return gradients
    }
  }
}
