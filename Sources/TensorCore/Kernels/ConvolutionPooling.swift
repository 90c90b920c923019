/// Convolution, ReLU and max pooling computed together, recording for each pooled element
/// its winner: the kernels of `Tensor.convolutionReLUMaxPool`, chosen by shape.
///
/// A winner is the position of the pooled maximum in its plane of the convolution's output,
/// or `~position` (negative) where the maximum is ≤ 0 and ReLU stops the gradient; among
/// equal maxima the first in row-major order wins, as in `maxPool2d`. The backward pass
/// visits only the winners, a quarter of the positions for 2×2 pooling, instead of
/// propagating through the full-size ReLU, pooling and convolution gradients.
enum ConvolutionPoolingKernel {
  /// A row kernel and 2×2 pooling with stride 2: each convolved plane is pooled while it is
  /// in cache and never stored; winners are full-width positions (`oh·Wp + ow`).
  case rows(RowConvolution, SpanPooling)
  /// Any other convolution and pooling: the convolution's output is stored, then pooled;
  /// winners are positions `oh·OW + ow`.
  case windows(WindowGeometry, outChannels: Int, WindowPooling)

  /// The kernel for a convolution of geometry `g` with `outChannels` filters, pooled over
  /// `poolSize`² windows `poolStride` apart that fit in its output.
  init(geometry g: WindowGeometry, outChannels: Int, poolSize: Int, poolStride: Int) {
    if SpanPooling.applies(to: g, poolSize: poolSize, poolStride: poolStride) {
      let kernel = RowConvolution(geometry: g, outChannels: outChannels)
      self = .rows(
        kernel,
        SpanPooling(
          convolvedHeight: g.outputHeight, convolvedWidth: g.outputWidth,
          paddedWidth: kernel.paddedWidth))
    } else {
      self = .windows(
        g, outChannels: outChannels,
        WindowPooling(
          convolvedHeight: g.outputHeight, convolvedWidth: g.outputWidth, size: poolSize,
          stride: poolStride))
    }
  }

  /// PH and PW, the pooled output's height and width.
  var pooledSize: (height: Int, width: Int) {
    switch self {
    case .rows(_, let pooling): return (pooling.pooledHeight, pooling.pooledWidth)
    case .windows(_, _, let pooling): return (pooling.pooledHeight, pooling.pooledWidth)
    }
  }

  /// The rectified, pooled convolution [N, outChannels, PH, PW] and its winners, which
  /// may be `nil` unless `recordingWinners` (the backward pass needs them).
  func forward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    recordingWinners: Bool
  ) throws -> (TensorStorage, Int32Storage?) {
    switch self {
    case .rows(let kernel, let pooling):
      return try kernel.convolveAndPool(
        input: input, weight: weight, bias: bias, pooling: pooling, normalization: nil,
        recordingWinners: recordingWinners)
    case .windows(let g, let outChannels, let pooling):
      let planes = g.batch * outChannels
      let convolved = TensorStorage(uninitializedCount: planes * g.outputPlane)
      try Tensor.convolutionKernel(geometry: g, outChannels: outChannels).forward(
        input: input, weight: weight, bias: bias, output: convolved.pointer)
      let out = TensorStorage(uninitializedCount: planes * pooling.pooledPlane)
      let winners = Int32Storage(count: planes * pooling.pooledPlane)
      pooling.pool(convolved.pointer, planes: planes, into: out.pointer, winners: winners.pointer)
      return (out, winners)
    }
  }

  /// The convolution's gradients from the upstream gradient [N, outChannels, PH, PW] and
  /// the winners ``forward(input:weight:bias:recordingWinners:)`` recorded.
  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, upstream: UnsafePointer<Float>,
    winners: UnsafePointer<Int32>, into gradients: ConvolutionGradients
  ) throws {
    switch self {
    case .rows(let kernel, let pooling):
      let pooledPlane = pooling.pooledPlane
      let sources = UnsafeSendable((upstream, winners))
      try kernel.backward(
        input: input, weight: weight, inputGradient: gradients.input,
        weightGradient: gradients.weight, biasGradient: gradients.bias
      ) { n, oc, full in
        let offset = (n * kernel.outChannels + oc) * pooledPlane
        pooling.spread(
          sources.value.0 + offset, winners: sources.value.1 + offset, into: full,
          span: kernel.span)
      }
    case .windows(let g, let outChannels, let pooling):
      let block = ConvolutionBlockBackward(
        geometry: g, outChannels: outChannels, convolvedWidth: pooling.convolvedWidth,
        pooledPlane: pooling.pooledPlane, winners: winners)
      if g.padding == 0
        && g.channels * g.kernelHeight * g.kernelWidth <= Tensor.directConvolutionLimit
      {
        try block.sparse(input: input, weight: weight, upstream: upstream, into: gradients)
      } else {
        try block.dense(input: input, weight: weight, upstream: upstream, into: gradients)
      }
    }
  }
}

/// Max pooling with ReLU over whole convolved planes [planes, OH, OW], recording winners as
/// positions `oh·OW + ow` in their plane (`~position` where the maximum is ≤ 0).
struct WindowPooling {
  /// OH and OW, the convolution's output size.
  let convolvedHeight: Int
  let convolvedWidth: Int
  /// The window's height and width.
  let size: Int
  /// The step between windows.
  let stride: Int

  /// ⌊(OH − size)/stride⌋ + 1.
  var pooledHeight: Int { (convolvedHeight - size) / stride + 1 }
  /// ⌊(OW − size)/stride⌋ + 1.
  var pooledWidth: Int { (convolvedWidth - size) / stride + 1 }
  /// Pooled elements per plane.
  var pooledPlane: Int { pooledHeight * pooledWidth }

  /// Pools and rectifies `planes` planes of `convolved` into `output`, recording `winners`
  /// (pooledPlane of each per plane), planes split over the engine's threads.
  func pool(
    _ convolved: UnsafePointer<Float>, planes: Int, into output: UnsafeMutablePointer<Float>,
    winners: UnsafeMutablePointer<Int32>
  ) {
    let (convolvedPlane, pooledPlane) = (convolvedHeight * convolvedWidth, pooledPlane)
    let (pooledHeight, pooledWidth) = (pooledHeight, pooledWidth)
    let (convolvedWidth, size, stride) = (convolvedWidth, size, stride)
    let pointers = UnsafeSendable((convolved, output, winners))
    Compute.parallelRanges(planes, minimumChunk: 16) { range in
      let (source, output, winners) = pointers.value
      for plane in range {
        let input = source + plane * convolvedPlane
        let target = plane * pooledPlane
        if size == 2 && stride == 2 {
          // The paper's pooling, unrolled; the first maximal element wins, as below.
          for ph in 0..<pooledHeight {
            let top = 2 * ph * convolvedWidth
            let bottom = top + convolvedWidth
            for pw in 0..<pooledWidth {
              let k = target + ph * pooledWidth + pw
              var bestIndex = top + 2 * pw
              var best = input[bestIndex]
              for candidate in [top + 2 * pw + 1, bottom + 2 * pw, bottom + 2 * pw + 1]
              where input[candidate] > best {
                best = input[candidate]
                bestIndex = candidate
              }
              output[k] = best > 0 ? best : 0
              winners[k] = best > 0 ? Int32(bestIndex) : ~Int32(bestIndex)
            }
          }
          continue
        }
        for ph in 0..<pooledHeight {
          for pw in 0..<pooledWidth {
            let corner = ph * stride * convolvedWidth + pw * stride
            var bestIndex = corner
            var best = input[corner]
            for kh in 0..<size {
              let row = corner + kh * convolvedWidth
              for kw in 0..<size where input[row + kw] > best {
                best = input[row + kw]
                bestIndex = row + kw
              }
            }
            let k = target + ph * pooledWidth + pw
            output[k] = best > 0 ? best : 0
            winners[k] = best > 0 ? Int32(bestIndex) : ~Int32(bestIndex)
          }
        }
      }
    }
  }
}

/// Where a convolution's gradients go; `nil` for operands that need none.
struct ConvolutionGradients {
  let input: UnsafeMutablePointer<Float>?
  let weight: UnsafeMutablePointer<Float>?
  let bias: UnsafeMutablePointer<Float>?
}

/// The backward pass of ``ConvolutionPoolingKernel/windows(_:outChannels:_:)``: the upstream
/// gradient reaches the convolution only at the pooling winners.
struct ConvolutionBlockBackward {
  let geometry: WindowGeometry
  let outChannels: Int
  let convolvedWidth: Int
  let pooledPlane: Int
  /// Per pooled element, its winner's index i in the convolved plane, or ~i where no
  /// gradient passes.
  let winners: UnsafePointer<Int32>

  private var kernel: ConvolutionKernel {
    Tensor.convolutionKernel(geometry: geometry, outChannels: outChannels)
  }

  /// Unpadded convolutions with small patches: each winner adds its patch of the input to
  /// the weight gradient (and its weights to the input gradient), touching nothing else.
  func sparse(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, upstream: UnsafePointer<Float>,
    into gradients: ConvolutionGradients
  ) throws {
    let g = geometry
    let taps = g.kernelHeight * g.kernelWidth
    let weightSize = outChannels * g.channels * taps
    let wantsParameters = gradients.weight != nil || gradients.bias != nil
    let combined =
      wantsParameters ? TensorStorage(count: weightSize + outChannels, repeating: 0) : nil
    // A winner at convolved (oh, ow) reads the input from (oh·stride)·W + ow·stride on, at
    // these offsets per tap.
    let convolvedPlane = g.outputPlane
    var corners = [Int](repeating: 0, count: convolvedPlane)
    for index in 0..<convolvedPlane {
      let (oh, ow) = index.quotientAndRemainder(dividingBy: convolvedWidth)
      corners[index] = oh * g.stride * g.width + ow * g.stride
    }
    let threeByThree = g.kernelHeight == 3 && g.kernelWidth == 3
    let tapOffsets = (0..<taps).map { ($0 / g.kernelWidth) * g.width + $0 % g.kernelWidth }
    try corners.withUnsafeBufferPointer { corners in
      try tapOffsets.withUnsafeBufferPointer { tapOffsets in
        let pointers = UnsafeSendable(
          (
            input, weight, upstream, winners, gradients.input, corners.baseAddress!,
            tapOffsets.baseAddress!
          ))
        try kernel.reduceOverSamples(
          batch: g.batch, size: weightSize + outChannels, into: combined?.pointer
        ) { samples, partial in
          let (input, weight, upstream, winners, inputGradient, corners, tapOffsets) =
            pointers.value
          for n in samples {
            for oc in 0..<outChannels {
              let plane = (n * outChannels + oc) * pooledPlane
              for c in 0..<g.channels {
                let sample = input + (n * g.channels + c) * g.inputPlane
                let kernelOffset = (oc * g.channels + c) * taps
                if let partial {
                  if threeByThree {
                    accumulateThreeByThree(
                      sample: sample, upstream: upstream + plane, winners: winners + plane,
                      corners: corners, into: partial + kernelOffset)
                  } else {
                    for k in plane..<(plane + pooledPlane) where winners[k] >= 0 {
                      let patch = sample + corners[Int(winners[k])]
                      for tap in 0..<taps {
                        partial[kernelOffset + tap] += upstream[k] * patch[tapOffsets[tap]]
                      }
                    }
                  }
                }
                if let inputGradient {
                  let sampleGradient = inputGradient + (n * g.channels + c) * g.inputPlane
                  for k in plane..<(plane + pooledPlane) where winners[k] >= 0 {
                    let patch = sampleGradient + corners[Int(winners[k])]
                    for tap in 0..<taps {
                      patch[tapOffsets[tap]] += upstream[k] * weight[kernelOffset + tap]
                    }
                  }
                }
              }
              if let partial {
                for k in plane..<(plane + pooledPlane) where winners[k] >= 0 {
                  partial[weightSize + oc] += upstream[k]
                }
              }
            }
          }
        }
      }
    }
    if let combined {
      gradients.weight?.update(from: combined.pointer, count: weightSize)
      gradients.bias?.update(from: combined.pointer + weightSize, count: outChannels)
    }
  }

  /// Adds one plane's winners' 3×3 input patches, weighted by their upstream gradients, to
  /// `weightGradient`: nine register accumulators and no branch per winner (a stopped
  /// winner adds its patch times 0).
  private func accumulateThreeByThree(
    sample: UnsafePointer<Float>, upstream: UnsafePointer<Float>, winners: UnsafePointer<Int32>,
    corners: UnsafePointer<Int>, into weightGradient: UnsafeMutablePointer<Float>
  ) {
    let w = geometry.width
    var (a0, a1, a2, a3, a4, a5, a6, a7, a8):
      (Float, Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    for k in 0..<pooledPlane {
      let winner = winners[k]
      let value = SpanPooling.passed(upstream[k], winner: winner)
      let p = sample + corners[SpanPooling.position(of: winner)]
      a0 += value * p[0]
      a1 += value * p[1]
      a2 += value * p[2]
      a3 += value * p[w]
      a4 += value * p[w + 1]
      a5 += value * p[w + 2]
      a6 += value * p[2 * w]
      a7 += value * p[2 * w + 1]
      a8 += value * p[2 * w + 2]
    }
    for (tap, total) in [a0, a1, a2, a3, a4, a5, a6, a7, a8].enumerated() {
      weightGradient[tap] += total
    }
  }

  /// Any convolution: the upstream gradient is scattered to the winners of a zeroed
  /// convolved-size gradient, which the convolution's own kernel propagates.
  func dense(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, upstream: UnsafePointer<Float>,
    into gradients: ConvolutionGradients
  ) throws {
    let g = geometry
    let convolvedPlane = g.outputPlane
    let planes = g.batch * outChannels
    let convolvedGradient = TensorStorage(count: planes * convolvedPlane, repeating: 0)
    let pointers = UnsafeSendable((upstream, winners, convolvedGradient.pointer))
    Compute.parallelRanges(planes, minimumChunk: 16) { range in
      let (upstream, winners, target) = pointers.value
      for plane in range {
        for k in (plane * pooledPlane)..<((plane + 1) * pooledPlane) where winners[k] >= 0 {
          target[plane * convolvedPlane + Int(winners[k])] += upstream[k]
        }
      }
    }
    try kernel.backward(
      input: input, weight: weight, outputGradient: convolvedGradient.pointer,
      inputGradient: gradients.input, weightGradient: gradients.weight,
      biasGradient: gradients.bias)
  }
}

/// A heap buffer of `Int32`s that outlives the op that fills it (the backward closure holds
/// it), freed with its last reference.
final class Int32Storage: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Int32>

  init(count: Int) {
    pointer = .allocate(capacity: Swift.max(count, 1))
  }

  deinit { pointer.deallocate() }
}
