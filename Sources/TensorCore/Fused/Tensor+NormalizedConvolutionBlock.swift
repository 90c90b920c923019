extension Tensor {
  /// Convolution, batch normalisation, ReLU and max pooling as one op: the same function as
  /// `conv2d(…).batchNorm(…).relu().maxPool2d(…)`, with the same gradient.
  ///
  /// For a row kernel (stride 1, C·kH·kW ≤ 32) and 2×2 pooling with stride 2, the
  /// convolved planes are normalised, rectified and pooled in one pass that records the
  /// winners, and the backward pass builds the convolution's gradient plane by plane from
  /// the winners and the batch statistics, with no full-size intermediate gradient. Other
  /// shapes run the four ops one after another.
  /// - Parameters:
  ///   - weight: The convolution's weight, [outChannels, inChannels, kH, kW].
  ///   - bias: The convolution's bias, [outChannels], or `nil`.
  ///   - stride: The convolution's stride.
  ///   - padding: The convolution's zero padding.
  ///   - normalizationWeight: γ, [outChannels], or `nil` for 1.
  ///   - normalizationBias: β, [outChannels], or `nil` for 0.
  ///   - runningMean: [outChannels], updated in place in training.
  ///   - runningVariance: [outChannels], updated in place in training.
  ///   - training: Whether the batch's statistics normalise (else the running ones).
  ///   - momentum: The weight of this batch in the running statistics.
  ///   - epsilon: Added to the variance before the square root.
  ///   - poolSize: The pooling window's height and width.
  ///   - poolStride: The step between pooling windows; defaults to `poolSize`.
  /// - Returns: [N, outChannels, PH, PW], as `maxPool2d` gives them.
  /// - Throws: ``TensorError`` as `conv2d`, `batchNorm` and `maxPool2d` do.
  public func convolutionBatchNormReLUMaxPool(
    weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
    normalizationWeight: Tensor?, normalizationBias: Tensor?, runningMean: Tensor?,
    runningVariance: Tensor?, training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5,
    poolSize: Int, poolStride: Int? = nil
  ) throws -> Tensor {
    let poolStride = poolStride ?? poolSize
    let g = try convolutionGeometry(weight: weight, bias: bias, stride: stride, padding: padding)
    let outChannels = weight.shape[0]
    let perChannel = [normalizationWeight, normalizationBias, runningMean, runningVariance]
    guard SpanPooling.applies(to: g, poolSize: poolSize, poolStride: poolStride),
      perChannel.allSatisfy({ $0 == nil || $0!.shape == [outChannels] }),
      training || (runningMean != nil && runningVariance != nil),
      !training || g.batch * g.outputPlane > 1
    else {
      return try conv2d(weight: weight, bias: bias, stride: stride, padding: padding)
        .batchNorm(
          weight: normalizationWeight, bias: normalizationBias, runningMean: runningMean,
          runningVariance: runningVariance, training: training, momentum: momentum,
          epsilon: epsilon
        )
        .relu().maxPool2d(kernelSize: poolSize, stride: poolStride)
    }
    let kernel = RowConvolution(geometry: g, outChannels: outChannels)
    let (span, planes) = (kernel.span, g.batch * outChannels)
    let pooling = SpanPooling(
      convolvedHeight: g.outputHeight, convolvedWidth: g.outputWidth,
      paddedWidth: kernel.paddedWidth)
    let pooledPlane = pooling.pooledPlane
    let gammas = (0..<outChannels).map { normalizationWeight?.storage.pointer[$0] ?? 1 }
    let betas = (0..<outChannels).map { normalizationBias?.storage.pointer[$0] ?? 0 }
    let outShape = [g.batch, outChannels, pooling.pooledHeight, pooling.pooledWidth]
    let parameters = [weight] + [bias, normalizationWeight, normalizationBias].compactMap { $0 }
    let recordsGraph =
      GradientMode.enabled && ([self] + parameters).contains { $0.requiresGrad }

    // Per-channel statistics: in evaluation the running ones, known before the convolution;
    // in training the batch's, computed below.
    var means = [Float](repeating: 0, count: outChannels)
    var inverseDeviations = [Float](repeating: 0, count: outChannels)
    if !training, let runningMean, let runningVariance {
      for c in 0..<outChannels {
        means[c] = runningMean.storage.pointer[c]
        inverseDeviations[c] = 1 / (runningVariance.storage.pointer[c] + epsilon).squareRoot()
      }
      if !recordsGraph {
        // No gradient: each plane is pooled while it is in cache and none is kept.
        let (out, _) = try kernel.convolveAndPool(
          input: storage.pointer, weight: weight.storage.pointer, bias: bias?.storage.pointer,
          pooling: pooling, normalization: (means, inverseDeviations, gammas, betas))
        return Tensor(shape: outShape, storage: out)
      }
    }

    // The convolution, kept as full-width planes, with (in training) each plane's mean and
    // sum of squared deviations from it.
    let convolved = TensorStorage(uninitializedCount: planes * span)
    var planeMeans = [Double](repeating: 0, count: planes)
    var planeSquares = [Double](repeating: 0, count: planes)
    let planeCount = Float(g.outputPlane)
    try planeMeans.withUnsafeMutableBufferPointer { means in
      try planeSquares.withUnsafeMutableBufferPointer { squares in
        let targets = UnsafeSendable((convolved.pointer, means.baseAddress!, squares.baseAddress!))
        try kernel.forEachOutputSpan(
          input: storage.pointer, weight: weight.storage.pointer, bias: bias?.storage.pointer
        ) { n, oc, full in
          let plane = n * outChannels + oc
          let stored = targets.value.0 + plane * span
          stored.update(from: full, count: span)
          guard training else { return }
          pooling.fillScratchColumns(stored, span: span, with: 0)
          let mean = VectorKernels.sum(stored, span) / planeCount
          pooling.fillScratchColumns(stored, span: span, with: mean)
          targets.value.1[plane] = Double(mean)
          targets.value.2[plane] = Double(VectorKernels.sumOfSquaredDeviations(stored, mean, span))
        }
      }
    }

    // The batch's statistics: the planes' moments combined in plane order.
    if training {
      for c in 0..<outChannels {
        var (count, mean, squares) = (0.0, 0.0, 0.0)
        for n in 0..<g.batch {
          let plane = n * outChannels + c
          let added = Double(g.outputPlane)
          let delta = planeMeans[plane] - mean
          let total = count + added
          mean += delta * added / total
          squares += planeSquares[plane] + delta * delta * count * added / total
          count = total
        }
        means[c] = Float(mean)
        inverseDeviations[c] = Float(1 / (squares / count + Double(epsilon)).squareRoot())
        Tensor.updateRunningStatistics(
          runningMean, runningVariance, channel: c, mean: Float(mean),
          unbiasedVariance: Float(squares / (count - 1)), momentum: momentum)
      }
    }

    // Normalise, pool and rectify.
    let out = TensorStorage(uninitializedCount: planes * pooledPlane)
    let winners = Int32Storage(count: planes * pooledPlane)
    let pointers = UnsafeSendable((convolved.pointer, out.pointer, winners.pointer))
    Compute.parallelRanges(planes, minimumChunk: 16) { range in
      let (convolved, output, winners) = pointers.value
      for plane in range {
        let c = plane % outChannels
        pooling.pool(
          convolved + plane * span, mean: means[c], inverseDeviation: inverseDeviations[c],
          gamma: gammas[c], beta: betas[c], into: output + plane * pooledPlane,
          winners: winners + plane * pooledPlane)
      }
    }

    let input = self
    return Tensor.result(
      outShape, out, inputs: [self] + parameters, name: "convolutionBatchNormReLUMaxPool"
    ) { gradient in
      // Σ dy and Σ dy·x̂ per channel, from the winners alone (dy is 0 elsewhere).
      let sources = UnsafeSendable((gradient.storage.pointer, winners.pointer, convolved.pointer))
      let planeSums = Tensor.perPlane(planes) { plane in
        let (upstream, winners) = (sources.value.0, sources.value.1)
        var total: Float = 0
        for k in (plane * pooledPlane)..<((plane + 1) * pooledPlane) {
          total += winners[k] >= 0 ? upstream[k] : 0
        }
        return Double(total)
      }
      let planeProducts = Tensor.perPlane(planes) { plane in
        let (upstream, winners, convolved) = sources.value
        let c = plane % outChannels
        let (mean, inverse) = (means[c], inverseDeviations[c])
        let values = convolved + plane * span
        var total: Float = 0
        for k in (plane * pooledPlane)..<((plane + 1) * pooledPlane) {
          let winner = winners[k]
          let xhat = (values[Int(winner >= 0 ? winner : ~winner)] - mean) * inverse
          total += winner >= 0 ? upstream[k] * xhat : 0
        }
        return Double(total)
      }
      var sumDy = [Double](repeating: 0, count: outChannels)
      var sumDyXhat = [Double](repeating: 0, count: outChannels)
      for plane in 0..<planes {
        sumDy[plane % outChannels] += planeSums[plane]
        sumDyXhat[plane % outChannels] += planeProducts[plane]
      }
      let count = Double(g.batch * g.outputPlane)
      let shifts = sumDy.map { training ? Float($0 / count) : 0 }
      let slopes = sumDyXhat.map { training ? Float($0 / count) : 0 }
      let scales = (0..<outChannels).map { gammas[$0] * inverseDeviations[$0] }

      let gradInput = input.requiresGrad ? Tensor.zerosUnchecked(input.shape) : nil
      let gradWeight = weight.requiresGrad ? Tensor.zerosUnchecked(weight.shape) : nil
      let gradBias = (bias?.requiresGrad ?? false) ? Tensor.zerosUnchecked([outChannels]) : nil
      if input.requiresGrad || weight.requiresGrad || gradBias != nil {
        // dx = γ/σ·(dy − mean dy − x̂·mean(dy·x̂)) at every convolved position.
        try kernel.backward(
          input: input.storage.pointer, weight: weight.storage.pointer,
          inputGradient: gradInput?.storage.pointer, weightGradient: gradWeight?.storage.pointer,
          biasGradient: gradBias?.storage.pointer
        ) { n, oc, full in
          let plane = n * outChannels + oc
          let (upstream, winners, convolved) = sources.value
          let values = convolved + plane * span
          let (mean, inverse, scale) = (means[oc], inverseDeviations[oc], scales[oc])
          let (shift, slope) = (shifts[oc], slopes[oc])
          for i in 0..<span { full[i] = scale * (-shift - ((values[i] - mean) * inverse) * slope) }
          pooling.fillScratchColumns(full, span: span, with: 0)
          for k in (plane * pooledPlane)..<((plane + 1) * pooledPlane) {
            let winner = winners[k]
            full[Int(winner >= 0 ? winner : ~winner)] += winner >= 0 ? scale * upstream[k] : 0
          }
        }
      }
      return [gradInput, gradWeight] + (bias == nil ? [] : [gradBias])
        + (try Tensor.normalizationParameterGradients(
          weight: normalizationWeight, bias: normalizationBias, sumDy: sumDy,
          sumDyXhat: sumDyXhat))
    }
  }
}
