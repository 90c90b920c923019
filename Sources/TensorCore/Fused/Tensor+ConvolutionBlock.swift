extension Tensor {
  /// Convolution, ReLU and max pooling as one op: the same function as
  /// `conv2d(…).relu().maxPool2d(…)` (ReLU and max pooling commute), with the same gradient.
  ///
  /// Among equal maxima the first in row-major order takes the gradient, as in `maxPool2d`.
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
    let g = try convolutionGeometry(weight: weight, bias: bias, stride: stride, padding: padding)
    let outChannels = weight.shape[0]
    guard poolSize >= 1, poolStride >= 1, g.outputHeight >= poolSize, g.outputWidth >= poolSize
    else {
      let convolvedShape = [g.batch, outChannels, g.outputHeight, g.outputWidth]
      throw TensorError.invalidArgument(
        operation: "convolutionReLUMaxPool",
        message: "pool \(poolSize) and stride \(poolStride) do not fit shape \(convolvedShape)")
    }
    let kernel = ConvolutionPoolingKernel(
      geometry: g, outChannels: outChannels, poolSize: poolSize, poolStride: poolStride)
    let inputs = [self, weight] + (bias.map { [$0] } ?? [])
    let recordsGraph = GradientMode.enabled && inputs.contains { $0.requiresGrad }
    let (out, recorded) = try kernel.forward(
      input: storage.pointer, weight: weight.storage.pointer, bias: bias?.storage.pointer,
      recordingWinners: recordsGraph)
    let pooled = kernel.pooledSize
    let outShape = [g.batch, outChannels, pooled.height, pooled.width]
    guard recordsGraph, let winners = recorded else {
      return Tensor(shape: outShape, storage: out)
    }
    let input = self
    return Tensor.result(outShape, out, inputs: inputs, name: "convolutionReLUMaxPool") {
      gradient in
      let gradInput = input.requiresGrad ? Tensor.zerosUnchecked(input.shape) : nil
      let gradWeight = weight.requiresGrad ? Tensor.zerosUnchecked(weight.shape) : nil
      let gradBias = (bias?.requiresGrad ?? false) ? Tensor.zerosUnchecked([outChannels]) : nil
      try kernel.backward(
        input: input.storage.pointer, weight: weight.storage.pointer,
        upstream: gradient.storage.pointer, winners: winners.pointer,
        into: ConvolutionGradients(
          input: gradInput?.storage.pointer, weight: gradWeight?.storage.pointer,
          bias: gradBias?.storage.pointer))
      return [gradInput, gradWeight] + (bias == nil ? [] : [gradBias])
    }
  }
}
