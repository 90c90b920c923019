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

  /// Floats past a plane's `span` that ``poolValues(_:mean:inverseDeviation:gamma:beta:into:)``
  /// may read (and ignore): a buffer handed to it needs them allocated after its last plane.
  static let readSlack = 2 * Lanes.scalarCount

  typealias Lanes = SIMD16<Float>

  /// The results of ``pool(_:mean:inverseDeviation:gamma:beta:into:winners:)`` without
  /// the winners, sixteen pooled columns at a time: each window's four candidates are
  /// compared in the same order with the same arithmetic, so the results are the same
  /// bits.
  ///
  /// - Parameter full: The plane's full-width convolution output, readable for
  ///   ``readSlack`` floats past its span.
  @inline(__always)
  func poolValues(
    _ full: UnsafePointer<Float>, mean: Float, inverseDeviation: Float, gamma: Float,
    beta: Float, into output: UnsafeMutablePointer<Float>
  ) {
    let raw = UnsafeRawPointer(full)
    let stride = MemoryLayout<Float>.stride
    @inline(__always) func value(_ x: Lanes) -> Lanes {
      gamma * ((x - mean) * inverseDeviation) + beta
    }
    // Read as sixteen little-endian 64-bit words, the windows' left candidates are the
    // words' low halves and their right ones the high halves: two narrowing moves (the
    // generic `evenHalf` and `oddHalf` are not inlined).
    @inline(__always) func candidates(_ position: Int) -> (left: Lanes, right: Lanes) {
      let words = raw.loadUnaligned(fromByteOffset: position * stride, as: SIMD16<UInt64>.self)
      let left = SIMD16<UInt32>(truncatingIfNeeded: words)
      let right = SIMD16<UInt32>(truncatingIfNeeded: words &>> 32)
      return (
        value(unsafeBitCast(left, to: Lanes.self)), value(unsafeBitCast(right, to: Lanes.self))
      )
    }
    // `challenger > best ? challenger : best`, lane by lane: one max instruction.
    @inline(__always) func keepGreater(_ best: inout Lanes, _ challenger: Lanes) {
      best.replace(with: challenger, where: challenger .> best)
    }
    for ph in 0..<pooledHeight {
      let top = 2 * ph * paddedWidth
      for first in Swift.stride(from: 0, to: pooledWidth, by: Lanes.scalarCount) {
        let corner = top + 2 * first
        let (upperLeft, upperRight) = candidates(corner)
        let (lowerLeft, lowerRight) = candidates(corner + paddedWidth)
        var best = upperLeft
        keepGreater(&best, upperRight)
        keepGreater(&best, lowerLeft)
        keepGreater(&best, lowerRight)
        var pooled = Lanes.zero
        keepGreater(&pooled, best)
        let k = ph * pooledWidth + first
        if k + Lanes.scalarCount <= pooledPlane {
          // Lanes past the row land on positions of this plane written later.
          UnsafeMutableRawPointer(output + k).storeBytes(of: pooled, as: Lanes.self)
        } else {
          withUnsafeBytes(of: pooled) {
            (output + k).update(
              from: $0.baseAddress!.assumingMemoryBound(to: Float.self),
              count: pooledPlane - k)
          }
        }
      }
    }
  }

  /// The full-width position a winner records: `winner`, or `~winner` where ReLU stopped it,
  /// without a branch (`winner ^ (winner >> 31)`).
  @inline(__always)
  static func position(of winner: Int32) -> Int { Int(winner ^ (winner >> 31)) }

  /// `value` where the winner passed ReLU, else +0, by masking its bits: the compiler turns
  /// a select on the winner's sign into a branch, which mispredicts on this data.
  @inline(__always)
  static func passed(_ value: Float, winner: Int32) -> Float {
    Float(bitPattern: value.bitPattern & UInt32(bitPattern: ~(winner >> 31)))
  }

  /// Σ `passed(value(k), winner: winners[k])` over k in 0..<count, added in k order. The
  /// masks are taken eight at a time as vector operations: in a scalar loop the compiler
  /// turns them back into a branch on the winner's sign.
  @inline(__always)
  static func sumPassed(
    count: Int, winners: UnsafePointer<Int32>, _ value: (Int) -> Float
  ) -> Float {
    typealias Lanes = SIMD8<UInt32>
    var total: Float = 0
    var k = 0
    while k + Lanes.scalarCount <= count {
      var bits = Lanes()
      for lane in 0..<Lanes.scalarCount { bits[lane] = value(k + lane).bitPattern }
      // A winner's sign bit is 1 where ReLU stopped it: the mask is then 0, else all ones.
      let signs = UnsafeRawPointer(winners + k).loadUnaligned(as: Lanes.self) &>> 31
      let kept = bits & (signs &- 1)
      for lane in 0..<Lanes.scalarCount { total += Float(bitPattern: kept[lane]) }
      k += Lanes.scalarCount
    }
    while k < count {
      total += passed(value(k), winner: winners[k])
      k += 1
    }
    return total
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
      full[Self.position(of: winner)] = Self.passed(upstream[k], winner: winner)
    }
  }
}

extension RowConvolution {
  /// Convolves the batch and pools each plane while it is in cache, normalising plane
  /// (n, oc) with channel oc's statistics and affine parameters when `normalization` is
  /// given (else as is).
  ///
  /// - Parameter recordingWinners: Whether to record the winners (a backward pass needs
  ///   them); without them the pooling runs sixteen columns at a time.
  /// - Returns: The pooled, rectified planes [N, outChannels, PH, PW] and their winners, or
  ///   `nil` when not recorded.
  func convolveAndPool(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    pooling: SpanPooling,
    normalization: (
      means: [Float], inverseDeviations: [Float], gammas: [Float], betas: [Float]
    )?,
    recordingWinners: Bool
  ) throws -> (TensorStorage, Int32Storage?) {
    let (outChannels, pooledPlane) = (outChannels, pooling.pooledPlane)
    let planes = geometry.batch * outChannels
    let out = TensorStorage(uninitializedCount: planes * pooledPlane)
    let winners = recordingWinners ? Int32Storage(count: planes * pooledPlane) : nil
    let targets = UnsafeSendable((out.pointer, winners?.pointer))
    try forEachOutputSpan(input: input, weight: weight, bias: bias) { n, oc, full in
      let offset = (n * outChannels + oc) * pooledPlane
      let (mean, inverseDeviation, gamma, beta) = (
        normalization?.means[oc] ?? 0, normalization?.inverseDeviations[oc] ?? 1,
        normalization?.gammas[oc] ?? 1, normalization?.betas[oc] ?? 0
      )
      guard let winners = targets.value.1 else {
        pooling.poolValues(
          full, mean: mean, inverseDeviation: inverseDeviation, gamma: gamma, beta: beta,
          into: targets.value.0 + offset)
        return
      }
      pooling.pool(
        full, mean: mean, inverseDeviation: inverseDeviation, gamma: gamma, beta: beta,
        into: targets.value.0 + offset, winners: winners + offset)
    }
    return (out, winners)
  }
}
