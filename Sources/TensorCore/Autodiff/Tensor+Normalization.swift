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
    let planes = batch * channels
    if training {
      guard perChannel > 1 else {
        throw TensorError.invalidShape(
          operation: "batchNorm", shape: shape,
          expected: "more than one value per channel in training")
      }
      // Per-plane sums (fixed chunks), then per-channel totals in plane order.
      let source = storage.pointer
      let planeSums = Tensor.perPlane(planes) { index in
        Double(VectorKernels.sum(source + index * plane, plane))
      }
      var channelMeans = [Double](repeating: 0, count: channels)
      for index in 0..<planes { channelMeans[index % channels] += planeSums[index] }
      for c in 0..<channels { channelMeans[c] /= Double(perChannel) }
      let planeSquares = Tensor.perPlane(planes) { index in
        let start = source + index * plane
        let mean = Float(channelMeans[index % channels])
        var total: Float = 0
        for i in 0..<plane {
          let d = start[i] - mean
          total += d * d
        }
        return Double(total)
      }
      var totalSquares = [Double](repeating: 0, count: channels)
      for index in 0..<planes { totalSquares[index % channels] += planeSquares[index] }
      for c in 0..<channels {
        let variance = totalSquares[c] / Double(perChannel)
        means[c] = Float(channelMeans[c])
        inverseDeviations[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
        Tensor.updateRunningStatistics(
          runningMean, runningVariance, channel: c, mean: Float(channelMeans[c]),
          unbiasedVariance: Float(totalSquares[c] / Double(perChannel - 1)), momentum: momentum)
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
    let gammas = (0..<channels).map { weight?.storage.pointer[$0] ?? 1 }
    let betas = (0..<channels).map { bias?.storage.pointer[$0] ?? 0 }
    let (source, normalizedPointer, outPointer) = (storage.pointer, normalized.pointer, out.pointer)
    Tensor.forEachPlane(planes, plane: plane) { index in
      let c = index % channels
      let offset = index * plane
      let (mean, scale, gamma, beta) = (means[c], inverseDeviations[c], gammas[c], betas[c])
      for i in offset..<(offset + plane) {
        let xhat = (source[i] - mean) * scale
        normalizedPointer[i] = xhat
        outPointer[i] = gamma * xhat + beta
      }
    }
    let inputShape = shape
    let inputs = [self] + [weight, bias].compactMap { $0 }
    let input = self
    return Tensor.result(shape, out, inputs: inputs, name: "batchNorm") { g in
      let dy = g.storage.pointer
      let xhat = normalized.pointer
      let planeDy = Tensor.perPlane(planes) { index in
        Double(VectorKernels.sum(dy + index * plane, plane))
      }
      let planeDyXhat = Tensor.perPlane(planes) { index in
        Double(VectorKernels.dot(dy + index * plane, xhat + index * plane, plane))
      }
      var sumDy = [Double](repeating: 0, count: channels)
      var sumDyXhat = [Double](repeating: 0, count: channels)
      for index in 0..<planes {
        sumDy[index % channels] += planeDy[index]
        sumDyXhat[index % channels] += planeDyXhat[index]
      }
      var gradInput: Tensor?
      if input.requiresGrad {
        let result = TensorStorage(uninitializedCount: batch * channels * plane)
        let target = result.pointer
        let meanDy = sumDy.map { Float($0 / Double(perChannel)) }
        let meanDyXhat = sumDyXhat.map { Float($0 / Double(perChannel)) }
        Tensor.forEachPlane(planes, plane: plane) { index in
          let c = index % channels
          let offset = index * plane
          let scale = gammas[c] * inverseDeviations[c]
          if training {
            let (shift, slope) = (meanDy[c], meanDyXhat[c])
            for i in offset..<(offset + plane) {
              target[i] = scale * (dy[i] - shift - xhat[i] * slope)
            }
          } else {
            for i in offset..<(offset + plane) { target[i] = scale * dy[i] }
          }
        }
        gradInput = Tensor(shape: inputShape, storage: result)
      }
      return [gradInput]
        + (try Tensor.normalizationParameterGradients(
          weight: weight, bias: bias, sumDy: sumDy, sumDyXhat: sumDyXhat))
    }
  }
}

extension Tensor {
  /// Moves channel `channel` of the running statistics (when given) by `momentum` towards
  /// a batch's mean and unbiased variance.
  static func updateRunningStatistics(
    _ runningMean: Tensor?, _ runningVariance: Tensor?, channel c: Int, mean: Float,
    unbiasedVariance: Float, momentum: Float
  ) {
    guard let runningMean, let runningVariance else { return }
    runningMean.storage.pointer[c] =
      (1 - momentum) * runningMean.storage.pointer[c] + momentum * mean
    runningVariance.storage.pointer[c] =
      (1 - momentum) * runningVariance.storage.pointer[c] + momentum * unbiasedVariance
  }

  /// The gradients of batch normalisation's γ (Σ dy·x̂ per channel) and β (Σ dy), in that
  /// order, for those given; `nil` for one that needs no gradient.
  static func normalizationParameterGradients(
    weight: Tensor?, bias: Tensor?, sumDy: [Double], sumDyXhat: [Double]
  ) throws -> [Tensor?] {
    var gradients: [Tensor?] = []
    if let weight {
      gradients.append(
        weight.requiresGrad
          ? try Tensor(shape: [sumDyXhat.count], values: sumDyXhat.map(Float.init)) : nil)
    }
    if let bias {
      gradients.append(
        bias.requiresGrad ? try Tensor(shape: [sumDy.count], values: sumDy.map(Float.init)) : nil)
    }
    return gradients
  }

  /// `value(index)` for every plane index, computed in parallel; the result does not depend
  /// on the thread count.
  static func perPlane(_ planes: Int, _ value: (Int) -> Double) -> [Double] {
    var results = [Double](repeating: 0, count: planes)
    results.withUnsafeMutableBufferPointer { buffer in
      let target = UnsafeSendable(buffer.baseAddress!)
      Compute.parallelRanges(planes, minimumChunk: 8) { range in
        for index in range { target.value[index] = value(index) }
      }
    }
    return results
  }

  /// Runs `body` for every plane index in parallel, in chunks of at least 32k elements.
  static func forEachPlane(_ planes: Int, plane: Int, _ body: (Int) -> Void) {
    Compute.parallelRanges(planes, minimumChunk: Swift.max(1, 32_768 / Swift.max(plane, 1))) {
      range in
      for index in range { body(index) }
    }
  }
}
