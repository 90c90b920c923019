/// 2×2, stride-2 max pooling with ReLU straight from a ``RowConvolution``'s full-width
/// output planes, optionally through a per-plane batch normalisation first.
///
/// Each plane is pooled while it is still in cache: the convolution's output never needs a
/// rectified or normalised copy. Winners are recorded as full-width positions
/// (`oh·Wp + ow`), or as `~position` where the maximum is ≤ 0 and ReLU stops the gradient;
/// among equal maxima the first in row-major order wins, as in `maxPool2d`.
struct SpanPooling {
  /// OH and OW, the convolution's output size.
  let convolvedHeight: Int
  let convolvedWidth: Int
  /// Wp, the row pitch of a full-width plane.
  let paddedWidth: Int

  /// ⌊OH / 2⌋.
  var pooledHeight: Int { convolvedHeight / 2 }
  /// ⌊OW / 2⌋.
  var pooledWidth: Int { convolvedWidth / 2 }
  /// Pooled elements per plane.
  var pooledPlane: Int { pooledHeight * pooledWidth }

  /// Whether a convolution and pooling can run this way: a row kernel and 2×2 windows
  /// with stride 2.
  static func applies(to geometry: WindowGeometry, poolSize: Int, poolStride: Int) -> Bool {
    poolSize == 2 && poolStride == 2 && geometry.stride == 1
      && geometry.channels * geometry.kernelHeight * geometry.kernelWidth
        <= Tensor.directConvolutionLimit
      && geometry.outputHeight >= 2 && geometry.outputWidth >= 2
  }

  /// Pools one plane of `y = gamma·((x − mean)·inverseDeviation) + beta` (the identity for
  /// mean 0 and the others 1, 1, 0) and rectifies it.
  ///
  /// - Parameters:
  ///   - full: The plane's full-width convolution output.
  ///   - output: pooledPlane results.
  ///   - winners: pooledPlane full-width positions of the winners, `~position` where
  ///     stopped.
  @inline(__always)
  func pool(
    _ full: UnsafePointer<Float>, mean: Float, inverseDeviation: Float, gamma: Float,
    beta: Float, into output: UnsafeMutablePointer<Float>,
    winners: UnsafeMutablePointer<Int32>
  ) {
    @inline(__always) func value(_ position: Int) -> Float {
      gamma * ((full[position] - mean) * inverseDeviation) + beta
    }
    // Selects instead of branches: which element wins is data, not a pattern to predict.
    for ph in 0..<pooledHeight {
      let top = 2 * ph * paddedWidth
      for pw in 0..<pooledWidth {
        let corner = top + 2 * pw
        var best = value(corner)
        var position = Int32(corner)
        @inline(__always) func consider(_ candidate: Int) {
          let challenger = value(candidate)
          let better = challenger > best
          best = better ? challenger : best
          position = better ? Int32(candidate) : position
        }
        consider(corner + 1)
        consider(corner + paddedWidth)
        consider(corner + paddedWidth + 1)
        let k = ph * pooledWidth + pw
        output[k] = best > 0 ? best : 0
        winners[k] = best > 0 ? position : ~position
      }
    }
  }

  /// Sets the scratch columns (`ow ≥ OW`) of a full-width plane of `span` positions to
  /// `value`.
  @inline(__always)
  func fillScratchColumns(_ full: UnsafeMutablePointer<Float>, span: Int, with value: Float) {
    for oh in 0..<(convolvedHeight - 1) {
      for position in (oh * paddedWidth + convolvedWidth)..<((oh + 1) * paddedWidth)
      where position < span {
        full[position] = value
      }
    }
  }
}

extension SpanPooling {
  /// Writes one plane's gradient as `span` full-width positions for
  /// ``RowConvolution/backward(input:weight:inputGradient:weightGradient:biasGradient:fill:)``:
  /// the upstream gradient at the winners, 0 elsewhere and where ReLU stopped it.
  ///
  /// - Parameters:
  ///   - upstream: The plane's pooledPlane upstream gradients.
  ///   - winners: The plane's pooledPlane winners, as ``pool(_:mean:inverseDeviation:gamma:beta:into:winners:)`` recorded them.
  @inline(__always)
  func spread(
    _ upstream: UnsafePointer<Float>, winners: UnsafePointer<Int32>,
    into full: UnsafeMutablePointer<Float>, span: Int
  ) {
    full.update(repeating: 0, count: span)
    // Winners sit at distinct positions; a stopped one writes its 0 (no branch).
    for k in 0..<pooledPlane {
      let winner = winners[k]
      full[Int(winner >= 0 ? winner : ~winner)] = winner >= 0 ? upstream[k] : 0
    }
  }
}

extension RowConvolution {
  /// Convolves the batch and pools each plane while it is in cache, normalising plane
  /// (n, oc) with channel oc's statistics and affine parameters when `normalization` is
  /// given (else as is).
  ///
  /// - Returns: The pooled, rectified planes [N, outChannels, PH, PW] and their winners.
  func convolveAndPool(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    pooling: SpanPooling,
    normalization: (
      means: [Float], inverseDeviations: [Float], gammas: [Float], betas: [Float]
    )?
  ) throws -> (TensorStorage, Int32Storage) {
    let (outChannels, pooledPlane) = (outChannels, pooling.pooledPlane)
    let planes = geometry.batch * outChannels
    let out = TensorStorage(uninitializedCount: planes * pooledPlane)
    let winners = Int32Storage(count: planes * pooledPlane)
    let targets = UnsafeSendable((out.pointer, winners.pointer))
    try forEachOutputSpan(input: input, weight: weight, bias: bias) { n, oc, full in
      let offset = (n * outChannels + oc) * pooledPlane
      pooling.pool(
        full, mean: normalization?.means[oc] ?? 0,
        inverseDeviation: normalization?.inverseDeviations[oc] ?? 1,
        gamma: normalization?.gammas[oc] ?? 1, beta: normalization?.betas[oc] ?? 0,
        into: targets.value.0 + offset, winners: targets.value.1 + offset)
    }
    return (out, winners)
  }
}
