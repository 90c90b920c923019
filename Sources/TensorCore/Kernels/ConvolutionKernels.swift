/// The geometry of a 2-D convolution or pooling window over [N, C, H, W] inputs.
struct WindowGeometry {
  let batch: Int, channels: Int, height: Int, width: Int
  let kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int
  var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
  var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
  var inputPlane: Int { height * width }
  var outputPlane: Int { outputHeight * outputWidth }

  /// The output columns whose input column `ow·stride + kw − padding` lies inside the input.
  func validColumns(kernelColumn kw: Int) -> Range<Int> {
    let low = Swift.max(0, (padding - kw + stride - 1) / stride)
    let high = Swift.min(outputWidth, (width - 1 - kw + padding) / stride + 1)
    return low..<Swift.max(low, high)
  }

  /// The output rows whose input row lies inside the input.
  func validRows(kernelRow kh: Int) -> Range<Int> {
    let low = Swift.max(0, (padding - kh + stride - 1) / stride)
    let high = Swift.min(outputHeight, (height - 1 - kh + padding) / stride + 1)
    return low..<Swift.max(low, high)
  }
}

extension Tensor {
  /// The kernel for a convolution's shape: im2col and GEMM for large patches, whole-row
  /// axpys at stride 1, a direct loop otherwise.
  static func convolutionKernel(geometry g: WindowGeometry, outChannels: Int)
    -> ConvolutionKernel
  {
    g.channels * g.kernelHeight * g.kernelWidth > Tensor.directConvolutionLimit
      ? GEMMConvolution(geometry: g, outChannels: outChannels)
      : g.stride == 1
        ? RowConvolution(geometry: g, outChannels: outChannels) as ConvolutionKernel
        : DirectConvolution(geometry: g, outChannels: outChannels)
  }
}

/// One way to compute a convolution and its gradients.
protocol ConvolutionKernel {
  func forward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>) throws
  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
    weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?
  ) throws
}

extension ConvolutionKernel {
  /// Runs `accumulate` over fixed chunks of samples, each into its own zeroed partial of
  /// `size` floats, then adds the partials into `target` in chunk order (deterministic
  /// whatever the thread count).
  func reduceOverSamples(
    batch: Int, size: Int, into target: UnsafeMutablePointer<Float>?,
    _ accumulate: (Range<Int>, UnsafeMutablePointer<Float>?) throws -> Void
  ) throws {
    let chunk = Compute.chunkSize(batch, minimumChunk: 8)
    let chunks = (batch + chunk - 1) / chunk
    let partials = target.map { _ in TensorStorage(count: chunks * size, repeating: 0) }
    var failures = [Error?](repeating: nil, count: chunks)
    failures.withUnsafeMutableBufferPointer { failures in
      withoutActuallyEscaping(accumulate) { accumulate in
        let shared = UnsafeSendable((accumulate, partials?.pointer, failures))
        Compute.parallelFor(chunks) { index in
          let (accumulate, partials, failures) = shared.value
          let start = index * chunk
          do {
            try accumulate(
              start..<Swift.min(batch, start + chunk), partials.map { $0 + index * size })
          } catch {
            failures[index] = error
          }
        }
      }
    }
    if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
    guard let target, let partials else { return }
    for index in 0..<chunks {
      let partial = partials.pointer + index * size
      for i in 0..<size { target[i] += partial[i] }
    }
  }
}

/// Direct convolution for few input channels and small kernels (the paper's 1-channel
/// convolutions): the inner loop runs along output columns and vectorises.
struct DirectConvolution: ConvolutionKernel {
  let geometry: WindowGeometry
  let outChannels: Int

  func forward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>
  ) throws {
    let g = geometry
    let o = outChannels
    let pointers = UnsafeSendable((input, weight, bias, output))
    Compute.parallelRanges(g.batch * o, minimumChunk: 8) { range in
      let (input, weight, bias, output) = pointers.value
      for plane in range {
        let (n, oc) = plane.quotientAndRemainder(dividingBy: o)
        let target = output + plane * g.outputPlane
        target.initialize(repeating: bias?[oc] ?? 0, count: g.outputPlane)
        for c in 0..<g.channels {
          let source = input + (n * g.channels + c) * g.inputPlane
          let kernel = weight + ((oc * g.channels + c) * g.kernelHeight) * g.kernelWidth
          for kh in 0..<g.kernelHeight {
            for kw in 0..<g.kernelWidth {
              let w = kernel[kh * g.kernelWidth + kw]
              let columns = g.validColumns(kernelColumn: kw)
              for oh in g.validRows(kernelRow: kh) {
                let row = source + (oh * g.stride + kh - g.padding) * g.width + kw - g.padding
                let out = target + oh * g.outputWidth
                if g.stride == 1 {
                  for ow in columns { out[ow] += w * row[ow] }
                } else {
                  for ow in columns { out[ow] += w * row[ow * g.stride] }
                }
              }
            }
          }
        }
      }
    }
  }

  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
    weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?
  ) throws {
    let g = geometry
    let o = outChannels
    let weightSize = o * g.channels * g.kernelHeight * g.kernelWidth
    let pointers = UnsafeSendable((input, weight, outputGradient, inputGradient))
    let partialTarget = (weightGradient != nil || biasGradient != nil)
    let combined = partialTarget ? TensorStorage(count: weightSize + o, repeating: 0) : nil
    try reduceOverSamples(batch: g.batch, size: weightSize + o, into: combined?.pointer) {
      samples, partial in
      let (input, weight, outputGradient, inputGradient) = pointers.value
      for n in samples {
        for oc in 0..<o {
          let dOut = outputGradient + (n * o + oc) * g.outputPlane
          if let partial {
            var total: Float = 0
            for i in 0..<g.outputPlane { total += dOut[i] }
            partial[weightSize + oc] += total
          }
          for c in 0..<g.channels {
            let source = input + (n * g.channels + c) * g.inputPlane
            let kernelOffset = ((oc * g.channels + c) * g.kernelHeight) * g.kernelWidth
            for kh in 0..<g.kernelHeight {
              for kw in 0..<g.kernelWidth {
                let columns = g.validColumns(kernelColumn: kw)
                let w = weight[kernelOffset + kh * g.kernelWidth + kw]
                var dot: Float = 0
                for oh in g.validRows(kernelRow: kh) {
                  let inputRow = (oh * g.stride + kh - g.padding) * g.width + kw - g.padding
                  let row = source + inputRow
                  let out = dOut + oh * g.outputWidth
                  if partial != nil {
                    if g.stride == 1 {
                      for ow in columns { dot += out[ow] * row[ow] }
                    } else {
                      for ow in columns { dot += out[ow] * row[ow * g.stride] }
                    }
                  }
                  if let inputGradient {
                    let target = inputGradient + (n * g.channels + c) * g.inputPlane + inputRow
                    if g.stride == 1 {
                      for ow in columns { target[ow] += w * out[ow] }
                    } else {
                      for ow in columns { target[ow * g.stride] += w * out[ow] }
                    }
                  }
                }
                partial?[kernelOffset + kh * g.kernelWidth + kw] += dot
              }
            }
          }
        }
      }
    }
    if let combined {
      weightGradient?.update(from: combined.pointer, count: weightSize)
      biasGradient?.update(from: combined.pointer + weightSize, count: o)
    }
  }
}

/// Convolution as im2col and one GEMM per sample, for many channels or large kernels.
struct GEMMConvolution: ConvolutionKernel {
  let geometry: WindowGeometry
  let outChannels: Int

  var patchSize: Int { geometry.channels * geometry.kernelHeight * geometry.kernelWidth }

  /// Unfolds one sample into columns [C·kH·kW, OH·OW], zero outside the input.
  func im2col(_ source: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>) {
    let g = geometry
    columns.initialize(repeating: 0, count: patchSize * g.outputPlane)
    for c in 0..<g.channels {
      for kh in 0..<g.kernelHeight {
        for kw in 0..<g.kernelWidth {
          let row = columns + ((c * g.kernelHeight + kh) * g.kernelWidth + kw) * g.outputPlane
          let valid = g.validColumns(kernelColumn: kw)
          for oh in g.validRows(kernelRow: kh) {
            let input =
              source + c * g.inputPlane + (oh * g.stride + kh - g.padding) * g.width
              + kw - g.padding
            let target = row + oh * g.outputWidth
            for ow in valid { target[ow] = input[ow * g.stride] }
          }
        }
      }
    }
  }

  /// Adds columns back onto one sample's input gradient (the adjoint of ``im2col(_:into:)``).
  func col2im(_ columns: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>) {
    let g = geometry
    for c in 0..<g.channels {
      for kh in 0..<g.kernelHeight {
        for kw in 0..<g.kernelWidth {
          let row = columns + ((c * g.kernelHeight + kh) * g.kernelWidth + kw) * g.outputPlane
          let valid = g.validColumns(kernelColumn: kw)
          for oh in g.validRows(kernelRow: kh) {
            let input =
              target + c * g.inputPlane + (oh * g.stride + kh - g.padding) * g.width
              + kw - g.padding
            let source = row + oh * g.outputWidth
            for ow in valid { input[ow * g.stride] += source[ow] }
          }
        }
      }
    }
  }

  func forward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>
  ) throws {
    let g = geometry
    let pointers = UnsafeSendable((input, weight, bias, output))
    try reduceOverSamples(batch: g.batch, size: 0, into: nil) { samples, _ in
      let (input, weight, bias, output) = pointers.value
      let columns = TensorStorage(uninitializedCount: patchSize * g.outputPlane)
      for n in samples {
        im2col(input + n * g.channels * g.inputPlane, into: columns.pointer)
        let target = output + n * outChannels * g.outputPlane
        for oc in 0..<outChannels {
          (target + oc * g.outputPlane).initialize(repeating: bias?[oc] ?? 0, count: g.outputPlane)
        }
        try BLAS.sgemmSingleCall(
          transposeA: false, transposeB: false, m: outChannels, n: g.outputPlane, k: patchSize,
          alpha: 1, a: weight, lda: patchSize, b: columns.pointer, ldb: g.outputPlane, beta: 1,
          c: target, ldc: g.outputPlane)
      }
    }
  }

  func backward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
    weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?
  ) throws {
    let g = geometry
    let weightSize = outChannels * patchSize
    let wantsParameters = weightGradient != nil || biasGradient != nil
    let combined =
      wantsParameters ? TensorStorage(count: weightSize + outChannels, repeating: 0) : nil
    let pointers = UnsafeSendable((input, weight, outputGradient, inputGradient))
    try reduceOverSamples(batch: g.batch, size: weightSize + outChannels, into: combined?.pointer) {
      samples, partial in
      let (input, weight, outputGradient, inputGradient) = pointers.value
      let columns = TensorStorage(uninitializedCount: patchSize * g.outputPlane)
      for n in samples {
        let dOut = outputGradient + n * outChannels * g.outputPlane
        if let partial {
          im2col(input + n * g.channels * g.inputPlane, into: columns.pointer)
          try BLAS.sgemmSingleCall(
            transposeA: false, transposeB: true, m: outChannels, n: patchSize, k: g.outputPlane,
            alpha: 1, a: dOut, lda: g.outputPlane, b: columns.pointer, ldb: g.outputPlane,
            beta: 1, c: partial, ldc: patchSize)
          for oc in 0..<outChannels {
            var total: Float = 0
            for i in 0..<g.outputPlane { total += dOut[oc * g.outputPlane + i] }
            partial[weightSize + oc] += total
          }
        }
        if let inputGradient {
          try BLAS.sgemmSingleCall(
            transposeA: true, transposeB: false, m: patchSize, n: g.outputPlane, k: outChannels,
            alpha: 1, a: weight, lda: patchSize, b: dOut, ldb: g.outputPlane, beta: 0,
            c: columns.pointer, ldc: g.outputPlane)
          col2im(columns.pointer, into: inputGradient + n * g.channels * g.inputPlane)
        }
      }
    }
    if let combined {
      weightGradient?.update(from: combined.pointer, count: weightSize)
      biasGradient?.update(from: combined.pointer + weightSize, count: outChannels)
    }
  }
}
