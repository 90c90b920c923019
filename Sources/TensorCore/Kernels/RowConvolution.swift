/// Stride-1 convolution for few input channels, computed over whole padded rows.
///
/// Output position (oh, ow) reads the padded input at `oh·Wp + ow + kh·Wp + kw`, so over
/// "full-width" rows (all Wp columns of each output row, the last kW − 1 discarded) every
/// kernel tap is one long contiguous axpy (forward, input gradient) or dot product (weight
/// gradient) of about OH·Wp elements, which vectorises well. The paper's 1-channel 3×3
/// convolutions on 28×28 run this way.
struct RowConvolution: ConvolutionKernel {
  let geometry: WindowGeometry
  let outChannels: Int

  /// Wp, the padded input's width: the row pitch of a full-width output plane.
  var paddedWidth: Int { geometry.width + 2 * geometry.padding }
  private var paddedHeight: Int { geometry.height + 2 * geometry.padding }
  private var paddedPlane: Int { paddedWidth * paddedHeight }
  /// Full-width positions that cover every valid output: (OH − 1)·Wp + OW.
  var span: Int { (geometry.outputHeight - 1) * paddedWidth + geometry.outputWidth }
  private var taps: Int { geometry.kernelHeight * geometry.kernelWidth }

  /// Copies sample `n`'s channels into `target` with zero padding, or returns the input
  /// itself when there is no padding.
  private func paddedChannels(
    _ input: UnsafePointer<Float>, sample n: Int, scratch: UnsafeMutablePointer<Float>
  ) -> UnsafePointer<Float> {
    let g = geometry
    let source = input + n * g.channels * g.inputPlane
    guard g.padding > 0 else { return source }
    scratch.initialize(repeating: 0, count: g.channels * paddedPlane)
    for c in 0..<g.channels {
      for row in 0..<g.height {
        (scratch + c * paddedPlane + (row + g.padding) * paddedWidth + g.padding).update(
          from: source + c * g.inputPlane + row * g.width, count: g.width)
      }
    }
    return UnsafePointer(scratch)
  }

  func forward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>
  ) throws {
    let g = geometry
    let paddedWidth = paddedWidth
    let target = UnsafeSendable(output)
    try forEachOutputSpan(input: input, weight: weight, bias: bias) { n, oc, full in
      let plane = target.value + (n * outChannels + oc) * g.outputPlane
      for oh in 0..<g.outputHeight {
        (plane + oh * g.outputWidth).update(from: full + oh * paddedWidth, count: g.outputWidth)
      }
    }
  }

  /// Computes the convolution ``channelsPerPass`` output planes at a time (planes of sample
  /// n in channel order) and hands each to `consume` as
  /// ``span`` full-width positions: position `oh·Wp + ow` holds output (oh, ow) for
  /// `ow < OW`; the other columns are scratch.
  ///
  /// `consume(n, oc, full)` runs on the engine's threads, for disjoint planes. With a
  /// `target` of [N·outChannels, span] floats, each plane is written there and `full` points
  /// to it; otherwise `full` is scratch, valid only during the call and readable for
  /// ``SpanPooling/readSlack`` floats past its span.
  func forEachOutputSpan(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    writingInto target: UnsafeMutablePointer<Float>? = nil,
    _ consume: (Int, Int, UnsafePointer<Float>) -> Void
  ) throws {
    let g = geometry
    let (span, taps, paddedWidth, paddedPlane) = (span, taps, paddedWidth, paddedPlane)
    let outChannels = outChannels
    let group = Self.channelsPerPass
    let pitch = target == nil ? span + SpanPooling.readSlack : span
    let pointers = UnsafeSendable((input, weight, bias, target))
    try reduceOverSamples(batch: g.batch, size: 0, into: nil) { samples, _ in
      let (input, weight, bias, target) = pointers.value
      let planeScratch = g.channels * paddedPlane
      let scratch = TensorStorage(
        uninitializedCount: planeScratch + (target == nil ? group * pitch : 0))
      let scratchSpans = scratch.pointer + planeScratch
      if target == nil { scratchSpans.initialize(repeating: 0, count: group * pitch) }
      let tapOffsets = (0..<(g.channels * taps)).map { index in
        let (c, tap) = index.quotientAndRemainder(dividingBy: taps)
        let (kh, kw) = tap.quotientAndRemainder(dividingBy: g.kernelWidth)
        return c * paddedPlane + kh * paddedWidth + kw
      }
      let biases = (0..<outChannels).map { bias?[$0] ?? 0 }
      for n in samples {
        let planes = paddedChannels(input, sample: n, scratch: scratch.pointer)
        for first in stride(from: 0, to: outChannels, by: group) {
          let count = min(group, outChannels - first)
          let fulls = target.map { $0 + (n * outChannels + first) * span } ?? scratchSpans
          Self.convolveSpans(
            planes, weights: weight + first * g.channels * taps, tapOffsets: tapOffsets,
            biases: biases[first..<(first + count)], into: fulls, pitch: pitch, span: span)
          for member in 0..<count {
            consume(n, first + member, UnsafePointer(fulls + member * pitch))
          }
        }
      }
    }
  }

  /// Output channels convolved in one pass over a sample's input: each input vector loaded
  /// serves that many planes, which stay in L1 cache for their consumer.
  static let channelsPerPass = 4

  /// For each output channel j of `biases` (weights `weights + j·taps` in turn):
  /// fulls[j·pitch + i] = bias_j + Σ_t w_jt·planes[i + tapOffsets[t]] for i < span, sixteen
  /// positions at a time in one register accumulator per channel (taps in a fixed order),
  /// each input vector loaded once for every channel.
  @inline(__always)
  private static func convolveSpans(
    _ planes: UnsafePointer<Float>, weights: UnsafePointer<Float>, tapOffsets: [Int],
    biases: ArraySlice<Float>, into fulls: UnsafeMutablePointer<Float>, pitch: Int, span: Int
  ) {
    typealias Lanes = VectorKernels.Lanes
    let raw = UnsafeRawPointer(planes)
    let stride = MemoryLayout<Float>.stride
    let taps = tapOffsets.count
    let count = biases.count
    let firstBias = biases.startIndex
    var i = 0
    @inline(__always) func load(_ position: Int) -> Lanes {
      raw.loadUnaligned(fromByteOffset: position * stride, as: Lanes.self)
    }
    @inline(__always) func store(_ total: Lanes, member: Int) {
      UnsafeMutableRawPointer(fulls + member * pitch).storeBytes(
        of: total, toByteOffset: i * stride, as: Lanes.self)
    }
    if taps == 9 {
      // One 3×3 channel: the offsets in registers, the nine loads shared by the channels.
      let (o0, o1, o2, o3, o4, o5, o6, o7, o8) = (
        tapOffsets[0], tapOffsets[1], tapOffsets[2], tapOffsets[3], tapOffsets[4],
        tapOffsets[5], tapOffsets[6], tapOffsets[7], tapOffsets[8]
      )
      @inline(__always) func convolve(
        _ l: (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes), member: Int
      ) -> Lanes {
        let w = weights + member * 9
        var total = Lanes(repeating: biases[firstBias + member])
        total += w[0] * l.0
        total += w[1] * l.1
        total += w[2] * l.2
        total += w[3] * l.3
        total += w[4] * l.4
        total += w[5] * l.5
        total += w[6] * l.6
        total += w[7] * l.7
        total += w[8] * l.8
        return total
      }
      while i + Lanes.scalarCount <= span {
        let loaded = (
          load(i + o0), load(i + o1), load(i + o2), load(i + o3), load(i + o4),
          load(i + o5), load(i + o6), load(i + o7), load(i + o8)
        )
        if count == 4 {
          // Four independent sums in flight: each is a chain of nine dependent additions.
          let (t0, t1, t2, t3) = (
            convolve(loaded, member: 0), convolve(loaded, member: 1),
            convolve(loaded, member: 2), convolve(loaded, member: 3)
          )
          store(t0, member: 0)
          store(t1, member: 1)
          store(t2, member: 2)
          store(t3, member: 3)
        } else {
          for member in 0..<count { store(convolve(loaded, member: member), member: member) }
        }
        i += Lanes.scalarCount
      }
      if i < span, span >= Lanes.scalarCount {
        // The last positions as one vector ending at the span: the ones it repeats get the
        // same sums again, bit for bit.
        i = span - Lanes.scalarCount
        let loaded = (
          load(i + o0), load(i + o1), load(i + o2), load(i + o3), load(i + o4),
          load(i + o5), load(i + o6), load(i + o7), load(i + o8)
        )
        for member in 0..<count { store(convolve(loaded, member: member), member: member) }
        i = span
      }
    }
    tapOffsets.withUnsafeBufferPointer { offsets in
      while i + Lanes.scalarCount <= span {
        for member in 0..<count {
          let w = weights + member * taps
          var total = Lanes(repeating: biases[firstBias + member])
          for (t, offset) in offsets.enumerated() { total += w[t] * load(i + offset) }
          store(total, member: member)
        }
        i += Lanes.scalarCount
      }
      while i < span {
        for member in 0..<count {
          let w = weights + member * taps
          var total = biases[firstBias + member]
          for (t, offset) in offsets.enumerated() { total += w[t] * planes[i + offset] }
          fulls[member * pitch + i] = total
        }
        i += 1
      }
    }
  }

  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
    weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?
  ) throws {
    let g = geometry
    let (span, paddedWidth) = (span, paddedWidth)
    let gradient = UnsafeSendable(outputGradient)
    try backward(
      input: input, weight: weight, inputGradient: inputGradient,
      weightGradient: weightGradient, biasGradient: biasGradient
    ) { n, oc, full in
      let dOut = gradient.value + (n * outChannels + oc) * g.outputPlane
      full.update(repeating: 0, count: span)
      for oh in 0..<g.outputHeight {
        (full + oh * paddedWidth).update(from: dOut + oh * g.outputWidth, count: g.outputWidth)
      }
    }
  }

  /// The gradients of the convolution given its output gradient one plane at a time:
  /// `fill(n, oc, full)` writes plane (n, oc)'s gradient as ``span`` full-width positions
  /// (as ``forEachOutputSpan(input:weight:bias:_:)`` lays them out), 0 in the columns past
  /// OW.
  ///
  /// `fill` runs on the engine's threads, for disjoint planes.
  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
    biasGradient: UnsafeMutablePointer<Float>?,
    fill: (Int, Int, UnsafeMutablePointer<Float>) -> Void
  ) throws {
    let g = geometry
    let (span, taps, paddedWidth, paddedPlane) = (span, taps, paddedWidth, paddedPlane)
    let weightSize = outChannels * g.channels * taps
    let wantsParameters = weightGradient != nil || biasGradient != nil
    let combined =
      wantsParameters ? TensorStorage(count: weightSize + outChannels, repeating: 0) : nil
    let pointers = UnsafeSendable((input, weight, inputGradient))
    try reduceOverSamples(batch: g.batch, size: weightSize + outChannels, into: combined?.pointer) {
      samples, partial in
      let (input, weight, inputGradient) = pointers.value
      let planeScratch = 2 * g.channels * paddedPlane
      let scratch = TensorStorage(uninitializedCount: planeScratch + outChannels * span)
      let paddedGradient = scratch.pointer + g.channels * paddedPlane
      let fullGradients = scratch.pointer + planeScratch
      for n in samples {
        for oc in 0..<outChannels { fill(n, oc, fullGradients + oc * span) }
        if let partial {
          let planes = paddedChannels(input, sample: n, scratch: scratch.pointer)
          for oc in 0..<outChannels {
            let full = fullGradients + oc * span
            partial[weightSize + oc] += VectorKernels.sum(full, span)
            for c in 0..<g.channels {
              let plane = planes + c * paddedPlane
              let target = partial + (oc * g.channels + c) * taps
              if g.kernelHeight == 3 && g.kernelWidth == 3 {
                VectorKernels.addThreeByThreeCorrelation(
                  full, plane, pitch: paddedWidth, count: span, into: target)
                continue
              }
              for tap in 0..<taps {
                let (kh, kw) = tap.quotientAndRemainder(dividingBy: g.kernelWidth)
                target[tap] += VectorKernels.dot(full, plane + kh * paddedWidth + kw, span)
              }
            }
          }
        }
        guard let inputGradient else { continue }
        let target =
          g.padding > 0 ? paddedGradient : inputGradient + n * g.channels * g.inputPlane
        if g.padding > 0 { target.update(repeating: 0, count: g.channels * paddedPlane) }
        for c in 0..<g.channels {
          for oc in 0..<outChannels {
            let full = fullGradients + oc * span
            for tap in 0..<taps {
              let w = weight[(oc * g.channels + c) * taps + tap]
              let (kh, kw) = tap.quotientAndRemainder(dividingBy: g.kernelWidth)
              let destination = target + c * paddedPlane + kh * paddedWidth + kw
              VectorKernels.axpy(w, full, destination, span)
            }
          }
        }
        if g.padding > 0 {
          let sample = inputGradient + n * g.channels * g.inputPlane
          for c in 0..<g.channels {
            for row in 0..<g.height {
              let source = target + c * paddedPlane + (row + g.padding) * paddedWidth + g.padding
              let destination = sample + c * g.inputPlane + row * g.width
              for i in 0..<g.width { destination[i] += source[i] }
            }
          }
        }
      }
    }
    if let combined {
      weightGradient?.update(from: combined.pointer, count: weightSize)
      biasGradient?.update(from: combined.pointer + weightSize, count: outChannels)
    }
  }
}
