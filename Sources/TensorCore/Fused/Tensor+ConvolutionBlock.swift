extension Tensor {
  /// Convolution, ReLU and max pooling as one op: the same function as
  /// `conv2d(…).relu().maxPool2d(…)` (ReLU and max pooling commute), with the same gradient.
  ///
  /// The convolution's output is pooled and rectified in one pass that remembers, per
  /// pooled element, the winning position (or none where the maximum is ≤ 0, whose gradient
  /// ReLU stops). The backward pass visits only those winners, a quarter of the positions
  /// for 2×2 pooling, instead of propagating through the full-size ReLU, pooling and
  /// convolution gradients. For a row kernel (stride 1, C·kH·kW ≤ 32) and 2×2 pooling with
  /// stride 2, each convolved plane is pooled while it is in cache and never stored.
  /// - Parameters:
  ///   - weight: [outChannels, inChannels, kH, kW].
  ///   - bias: [outChannels], or `nil`.
  ///   - stride: The convolution's stride.
  ///   - padding: The convolution's zero padding.
  ///   - poolSize: The pooling window's height and width.
  ///   - poolStride: The step between pooling windows; defaults to `poolSize`.
  /// - Returns: [N, outChannels, PH, PW], PH and PW as `maxPool2d` gives them.
  /// - Throws: ``TensorError`` as `conv2d` and `maxPool2d` do.
  public func convolutionReLUMaxPool(
    weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0, poolSize: Int,
    poolStride: Int? = nil
  ) throws -> Tensor {
    let poolStride = poolStride ?? poolSize
    let geometry = try convolutionGeometry(
      weight: weight, bias: bias, stride: stride, padding: padding)
    if SpanPooling.applies(to: geometry, poolSize: poolSize, poolStride: poolStride) {
      return try rowConvolutionReLUMaxPool(geometry: geometry, weight: weight, bias: bias)
    }
    let convolved = try withGradientsDisabled {
      try conv2d(weight: weight, bias: bias, stride: stride, padding: padding)
    }
    let (batch, outChannels) = (convolved.shape[0], convolved.shape[1])
    let (convolvedHeight, convolvedWidth) = (convolved.shape[2], convolved.shape[3])
    guard poolSize >= 1, poolStride >= 1, convolvedHeight >= poolSize, convolvedWidth >= poolSize
    else {
      throw TensorError.invalidArgument(
        operation: "convolutionReLUMaxPool",
        message: "pool \(poolSize) and stride \(poolStride) do not fit shape \(convolved.shape)")
    }
    let pooledHeight = (convolvedHeight - poolSize) / poolStride + 1
    let pooledWidth = (convolvedWidth - poolSize) / poolStride + 1
    let (convolvedPlane, pooledPlane) = (
      convolvedHeight * convolvedWidth, pooledHeight * pooledWidth
    )
    let planes = batch * outChannels
    let out = TensorStorage(uninitializedCount: planes * pooledPlane)
    // Per pooled element, the index i of the winning position in its convolved plane, or
    // ~i (negative) where the maximum is ≤ 0 and ReLU stops the gradient.
    let winners = Int32Storage(count: planes * pooledPlane)
    let pointers = UnsafeSendable((convolved.storage.pointer, out.pointer, winners.pointer))
    Compute.parallelRanges(planes, minimumChunk: 16) { range in
      let (source, output, winners) = pointers.value
      for plane in range {
        let input = source + plane * convolvedPlane
        let target = plane * pooledPlane
        if poolSize == 2 && poolStride == 2 {
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
            let corner = ph * poolStride * convolvedWidth + pw * poolStride
            var bestIndex = corner
            var best = input[corner]
            for kh in 0..<poolSize {
              let row = corner + kh * convolvedWidth
              for kw in 0..<poolSize where input[row + kw] > best {
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
    let input = self
    let g = WindowGeometry(
      batch: batch, channels: shape[1], height: shape[2], width: shape[3],
      kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride,
      padding: padding)
    let inputs = [self, weight] + (bias.map { [$0] } ?? [])
    let outShape = [batch, outChannels, pooledHeight, pooledWidth]
    let sparse =
      padding == 0 && g.channels * g.kernelHeight * g.kernelWidth <= Tensor.directConvolutionLimit
    return Tensor.result(outShape, out, inputs: inputs, name: "convolutionReLUMaxPool") {
      gradient in
      let gradInput = input.requiresGrad ? Tensor.zerosUnchecked(input.shape) : nil
      let gradWeight = weight.requiresGrad ? Tensor.zerosUnchecked(weight.shape) : nil
      let gradBias = (bias?.requiresGrad ?? false) ? Tensor.zerosUnchecked([outChannels]) : nil
      let gradients = ConvolutionGradients(
        input: gradInput?.storage.pointer, weight: gradWeight?.storage.pointer,
        bias: gradBias?.storage.pointer)
      let block = ConvolutionBlockBackward(
        geometry: g, outChannels: outChannels, convolvedWidth: convolvedWidth,
        pooledPlane: pooledPlane, winners: winners.pointer)
      if sparse {
        try block.sparse(
          input: input.storage.pointer, weight: weight.storage.pointer,
          upstream: gradient.storage.pointer, into: gradients)
      } else {
        try block.dense(
          input: input.storage.pointer, weight: weight.storage.pointer,
          upstream: gradient.storage.pointer, into: gradients)
      }
      return [gradInput, gradWeight] + (bias == nil ? [] : [gradBias])
    }
  }
}

/// Where a convolution's gradients go; `nil` for operands that need none.
struct ConvolutionGradients {
  let input: UnsafeMutablePointer<Float>?
  let weight: UnsafeMutablePointer<Float>?
  let bias: UnsafeMutablePointer<Float>?
}

/// The backward pass of ``Tensor/convolutionReLUMaxPool(weight:bias:stride:padding:poolSize:poolStride:)``:
/// the upstream gradient reaches the convolution only at the pooling winners.
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
      let value = winner >= 0 ? upstream[k] : 0
      let p = sample + corners[Int(winner >= 0 ? winner : ~winner)]
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
