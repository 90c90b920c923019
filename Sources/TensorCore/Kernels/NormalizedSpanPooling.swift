/// Batch normalisation, ReLU and 2×2 pooling of a ``RowConvolution``'s output kept as
/// full-width planes, and their backward pass: the kernels of
/// `Tensor.convolutionBatchNormReLUMaxPool` for a row kernel and 2×2 pooling.
///
/// Plane (n, c) of the convolution is normalised with channel c's mean and 1/σ, scaled by
/// γ_c, shifted by β_c, rectified and pooled; the winners are recorded as
/// ``SpanPooling`` records them. The backward pass builds each plane's gradient from the
/// winners and the statistics, with no full-size intermediate gradient.
struct NormalizedSpanPooling {
  let kernel: RowConvolution
  let pooling: SpanPooling

  /// N·outChannels.
  var planes: Int { kernel.geometry.batch * kernel.outChannels }

  /// The convolution as full-width planes [planes, span] and, when `measuring`, each
  /// plane's mean and sum of squared deviations from it (zeros otherwise).
  func convolve(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    measuring: Bool
  ) throws -> (convolved: TensorStorage, means: [Double], squares: [Double]) {
    let (span, planes, outChannels, pooling) = (kernel.span, planes, kernel.outChannels, pooling)
    let convolved = TensorStorage(uninitializedCount: planes * span)
    var planeMeans = [Double](repeating: 0, count: planes)
    var planeSquares = [Double](repeating: 0, count: planes)
    let planeCount = Float(kernel.geometry.outputPlane)
    try planeMeans.withUnsafeMutableBufferPointer { means in
      try planeSquares.withUnsafeMutableBufferPointer { squares in
        let targets = UnsafeSendable((convolved.pointer, means.baseAddress!, squares.baseAddress!))
        try kernel.forEachOutputSpan(
          input: input, weight: weight, bias: bias, writingInto: convolved.pointer
        ) { n, oc, _ in
          guard measuring else { return }
          let plane = n * outChannels + oc
          let stored = targets.value.0 + plane * span
          pooling.fillScratchColumns(stored, span: span, with: 0)
          let mean = VectorKernels.sum(stored, span) / planeCount
          pooling.fillScratchColumns(stored, span: span, with: mean)
          targets.value.1[plane] = Double(mean)
          targets.value.2[plane] = Double(VectorKernels.sumOfSquaredDeviations(stored, mean, span))
        }
      }
    }
    return (convolved, planeMeans, planeSquares)
  }

  /// Each channel's mean, sum of squared deviations and element count over the batch: the
  /// planes' moments (from ``convolve(input:weight:bias:measuring:)``) combined in plane
  /// order.
  func batchMoments(planeMeans: [Double], planeSquares: [Double]) -> [(
    mean: Double, squares: Double, count: Double
  )] {
    let g = kernel.geometry
    let outChannels = kernel.outChannels
    return (0..<outChannels).map { c in
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
      return (mean, squares, count)
    }
  }

  /// Normalises, rectifies and pools every plane of `convolved` with its channel's
  /// statistics and affine parameters, planes split over the engine's threads.
  ///
  /// - Returns: [N, outChannels, PH, PW] and the winners.
  func normalizeAndPool(
    _ convolved: UnsafePointer<Float>, means: [Float], inverseDeviations: [Float],
    gammas: [Float], betas: [Float]
  ) -> (TensorStorage, Int32Storage) {
    let (span, pooledPlane, outChannels, pooling) = (
      kernel.span, pooling.pooledPlane, kernel.outChannels, pooling
    )
    let out = TensorStorage(uninitializedCount: planes * pooledPlane)
    let winners = Int32Storage(count: planes * pooledPlane)
    let pointers = UnsafeSendable((convolved, out.pointer, winners.pointer))
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
    return (out, winners)
  }

  /// Σ dy and Σ dy·x̂ per channel, from the winners alone (dy is 0 elsewhere), each plane
  /// summed in Float and the planes added in order.
  func channelSums(
    upstream: UnsafePointer<Float>, winners: UnsafePointer<Int32>,
    convolved: UnsafePointer<Float>, means: [Float], inverseDeviations: [Float]
  ) -> (sumDy: [Double], sumDyXhat: [Double]) {
    let (span, pooledPlane, outChannels) = (kernel.span, pooling.pooledPlane, kernel.outChannels)
    let sources = UnsafeSendable((upstream, winners, convolved))
    let planeSums = Tensor.perPlane(planes) { plane in
      let first = plane * pooledPlane
      let (upstream, winners) = (sources.value.0 + first, sources.value.1 + first)
      return Double(SpanPooling.sumPassed(count: pooledPlane, winners: winners) { upstream[$0] })
    }
    let planeProducts = Tensor.perPlane(planes) { plane in
      let (upstream, winners, convolved) = sources.value
      let c = plane % outChannels
      let (mean, inverse) = (means[c], inverseDeviations[c])
      let values = convolved + plane * span
      let first = plane * pooledPlane
      let (dy, planeWinners) = (upstream + first, winners + first)
      return Double(
        SpanPooling.sumPassed(count: pooledPlane, winners: planeWinners) { k in
          dy[k] * ((values[SpanPooling.position(of: planeWinners[k])] - mean) * inverse)
        })
    }
    var sumDy = [Double](repeating: 0, count: outChannels)
    var sumDyXhat = [Double](repeating: 0, count: outChannels)
    for plane in 0..<planes {
      sumDy[plane % outChannels] += planeSums[plane]
      sumDyXhat[plane % outChannels] += planeProducts[plane]
    }
    return (sumDy, sumDyXhat)
  }

  /// The convolution's gradients, given per channel the scale γ/σ and (under batch
  /// statistics, else 0) the shift mean(dy) and slope mean(dy·x̂): the gradient at a
  /// convolved position is γ/σ·(dy − mean dy − x̂·mean(dy·x̂)).
  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, upstream: UnsafePointer<Float>,
    winners: UnsafePointer<Int32>, convolved: UnsafePointer<Float>, means: [Float],
    inverseDeviations: [Float], scales: [Float], shifts: [Float], slopes: [Float],
    into gradients: ConvolutionGradients
  ) throws {
    let (span, pooledPlane, outChannels, pooling) = (
      kernel.span, pooling.pooledPlane, kernel.outChannels, pooling
    )
    let sources = UnsafeSendable((upstream, winners, convolved))
    try kernel.backward(
      input: input, weight: weight, inputGradient: gradients.input,
      weightGradient: gradients.weight, biasGradient: gradients.bias
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
        full[SpanPooling.position(of: winner)] += SpanPooling.passed(
          scale * upstream[k], winner: winner)
      }
    }
  }
}
