extension Tensor {
  /// Convolution, batch normalisation, ReLU and max pooling as one op: the same function as
  /// `conv2d(…).batchNorm(…).relu().maxPool2d(…)`, with the same gradient.
  ///
  /// In training it normalises with the batch's statistics and moves the running ones, as
  /// `batchNorm` does.
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
    let pooling = SpanPooling(
      convolvedHeight: g.outputHeight, convolvedWidth: g.outputWidth,
      paddedWidth: kernel.paddedWidth)
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
          pooling: pooling, normalization: (means, inverseDeviations, gammas, betas),
          recordingWinners: false)
        return Tensor(shape: outShape, storage: out)
      }
    }

    // The convolution, kept as full-width planes; in training the batch's statistics from
    // its planes' moments.
    let block = NormalizedSpanPooling(kernel: kernel, pooling: pooling)
    let (convolved, planeMeans, planeSquares) = try block.convolve(
      input: storage.pointer, weight: weight.storage.pointer, bias: bias?.storage.pointer,
      measuring: training)
    if training {
      let moments = block.batchMoments(planeMeans: planeMeans, planeSquares: planeSquares)
      for (c, (mean, squares, count)) in moments.enumerated() {
        means[c] = Float(mean)
        inverseDeviations[c] = Float(1 / (squares / count + Double(epsilon)).squareRoot())
        Tensor.updateRunningStatistics(
          runningMean, runningVariance, channel: c, mean: Float(mean),
          unbiasedVariance: Float(squares / (count - 1)), momentum: momentum)
      }
    }
    let (out, winners) = block.normalizeAndPool(
      convolved.pointer, means: means, inverseDeviations: inverseDeviations, gammas: gammas,
      betas: betas)

    let input = self
    return Tensor.result(
      outShape, out, inputs: [self] + parameters, name: "convolutionBatchNormReLUMaxPool"
    ) { gradient in
      let (sumDy, sumDyXhat) = block.channelSums(
        upstream: gradient.storage.pointer, winners: winners.pointer,
        convolved: convolved.pointer, means: means, inverseDeviations: inverseDeviations)
      let count = Double(g.batch * g.outputPlane)
      let shifts = sumDy.map { training ? Float($0 / count) : 0 }
      let slopes = sumDyXhat.map { training ? Float($0 / count) : 0 }
      let scales = (0..<outChannels).map { gammas[$0] * inverseDeviations[$0] }

      let gradInput = input.requiresGrad ? Tensor.zerosUnchecked(input.shape) : nil
      let gradWeight = weight.requiresGrad ? Tensor.zerosUnchecked(weight.shape) : nil
      let gradBias = (bias?.requiresGrad ?? false) ? Tensor.zerosUnchecked([outChannels]) : nil
      if input.requiresGrad || weight.requiresGrad || gradBias != nil {
        try block.backward(
          input: input.storage.pointer, weight: weight.storage.pointer,
          upstream: gradient.storage.pointer, winners: winners.pointer,
          convolved: convolved.pointer, means: means, inverseDeviations: inverseDeviations,
          scales: scales, shifts: shifts, slopes: slopes,
          into: ConvolutionGradients(
            input: gradInput?.storage.pointer, weight: gradWeight?.storage.pointer,
            bias: gradBias?.storage.pointer))
      }
      return [gradInput, gradWeight] + (bias == nil ? [] : [gradBias])
        + (try Tensor.normalizationParameterGradients(
          weight: normalizationWeight, bias: normalizationBias, sumDy: sumDy,
          sumDyXhat: sumDyXhat))
    }
  }
}
