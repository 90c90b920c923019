extension Tensor {
  /// 2-D max pooling over [N, C, H, W], as PyTorch's `max_pool2d` with no padding.
  ///
  /// The gradient flows to the first maximal element of each window.
  /// - Parameters:
  ///   - kernelSize: The window's height and width.
  ///   - stride: The step between windows; defaults to `kernelSize`.
  /// - Returns: [N, C, ⌊(H − k)/stride⌋ + 1, ⌊(W − k)/stride⌋ + 1].
  public func maxPool2d(kernelSize: Int, stride: Int? = nil) throws -> Tensor {
    let stride = stride ?? kernelSize
    guard rank == 4 else {
      throw TensorError.invalidShape(
        operation: "maxPool2d", shape: shape, expected: "rank 4 [N, C, H, W]")
    }
    guard kernelSize >= 1, stride >= 1, shape[2] >= kernelSize, shape[3] >= kernelSize else {
      throw TensorError.invalidArgument(
        operation: "maxPool2d",
        message: "kernel \(kernelSize) and stride \(stride) do not fit shape \(shape)")
    }
    let g = WindowGeometry(
      batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
      kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: 0)
    let planes = g.batch * g.channels
    let outShape = [g.batch, g.channels, g.outputHeight, g.outputWidth]
    let out = TensorStorage(uninitializedCount: planes * g.outputPlane)
    var winners = [Int32](repeating: 0, count: planes * g.outputPlane)
    winners.withUnsafeMutableBufferPointer { winners in
      let pointers = UnsafeSendable((storage.pointer, out.pointer, winners.baseAddress!))
      Compute.parallelRanges(planes, minimumChunk: 16) { range in
        let (input, output, winners) = pointers.value
        for plane in range {
          let source = input + plane * g.inputPlane
          for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
              var bestIndex = (oh * stride) * g.width + ow * stride
              var best = source[bestIndex]
              for kh in 0..<kernelSize {
                for kw in 0..<kernelSize {
                  let index = (oh * stride + kh) * g.width + ow * stride + kw
                  if source[index] > best {
                    best = source[index]
                    bestIndex = index
                  }
                }
              }
              let target = plane * g.outputPlane + oh * g.outputWidth + ow
              output[target] = best
              winners[target] = Int32(bestIndex)
            }
          }
        }
      }
    }
    let inputShape = shape
    return Tensor.result(outShape, out, inputs: [self], name: "maxPool2d") { gradient in
      let result = Tensor.zerosUnchecked(inputShape)
      let pointers = UnsafeSendable((gradient.storage.pointer, result.storage.pointer))
      winners.withUnsafeBufferPointer { winners in
        let winners = UnsafeSendable(winners.baseAddress!)
        Compute.parallelRanges(planes, minimumChunk: 16) { range in
          let (upstream, target) = pointers.value
          for plane in range {
            for i in 0..<g.outputPlane {
              let k = plane * g.outputPlane + i
              target[plane * g.inputPlane + Int(winners.value[k])] += upstream[k]
            }
          }
        }
      }
      return [result]
    }
  }
}
