// MARK: - conv2d

extension Tensor {
  /// Patches up to this many elements (channels × kernel) use the direct kernel; larger ones
  /// use im2col and GEMM.
  static let directConvolutionLimit = 32

  /// 2-D cross-correlation, as PyTorch's `conv2d`.
  ///
  /// - Parameters:
  ///   - weight: [outChannels, inChannels, kernelHeight, kernelWidth].
  ///   - bias: [outChannels], or `nil`.
  /// - Returns: [N, outChannels, (H + 2·padding − kH)/stride + 1, (W + 2·padding − kW)/stride + 1].
  /// - Throws: ``TensorError`` naming both shapes when channels differ, the input is not
  ///   rank 4, or the window does not fit.
  public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0)
    throws -> Tensor
  {
    let g = try convolutionGeometry(weight: weight, bias: bias, stride: stride, padding: padding)
    let outChannels = weight.shape[0]
    let outShape = [g.batch, outChannels, g.outputHeight, g.outputWidth]
    let kernel = Tensor.convolutionKernel(geometry: g, outChannels: outChannels)
    let out = TensorStorage(uninitializedCount: outShape.reduce(1, *))
    try kernel.forward(
      input: storage.pointer, weight: weight.storage.pointer, bias: bias?.storage.pointer,
      output: out.pointer)
    let input = self
    let inputs = [self, weight] + (bias.map { [$0] } ?? [])
    return Tensor.result(outShape, out, inputs: inputs, name: "conv2d") { gradient in
      let gradInput = input.requiresGrad ? Tensor.zerosUnchecked(input.shape) : nil
      let gradWeight = weight.requiresGrad ? Tensor.zerosUnchecked(weight.shape) : nil
      let gradBias = (bias?.requiresGrad ?? false) ? Tensor.zerosUnchecked([outChannels]) : nil
      try kernel.backward(
        input: input.storage.pointer, weight: weight.storage.pointer,
        outputGradient: gradient.storage.pointer,
        inputGradient: gradInput?.storage.pointer, weightGradient: gradWeight?.storage.pointer,
        biasGradient: gradBias?.storage.pointer)
      return [gradInput, gradWeight] + (bias == nil ? [] : [gradBias])
    }
  }
}

extension Tensor {
  /// The window geometry of convolving this [N, C, H, W] input with `weight`
  /// [O, C, kH, kW] (and `bias` [O]), after checking that the shapes fit.
  func convolutionGeometry(weight: Tensor, bias: Tensor?, stride: Int, padding: Int) throws
    -> WindowGeometry
  {
    guard rank == 4, weight.rank == 4, weight.shape[1] == shape[1] else {
      throw TensorError.shapeMismatch(
        operation: "conv2d", lhs: shape, rhs: weight.shape,
        expected: "input [N, C, H, W] and weight [O, C, kH, kW] with equal C")
    }
    let outChannels = weight.shape[0]
    if let bias, bias.shape != [outChannels] {
      throw TensorError.shapeMismatch(
        operation: "conv2d bias", lhs: weight.shape, rhs: bias.shape,
        expected: "bias [\(outChannels)]")
    }
    guard stride >= 1, padding >= 0 else {
      throw TensorError.invalidArgument(
        operation: "conv2d", message: "stride \(stride) must be ≥ 1 and padding \(padding) ≥ 0")
    }
    let geometry = WindowGeometry(
      batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
      kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride,
      padding: padding)
    guard geometry.outputHeight >= 1, geometry.outputWidth >= 1,
      shape[2] + 2 * padding >= geometry.kernelHeight,
      shape[3] + 2 * padding >= geometry.kernelWidth
    else {
      throw TensorError.shapeMismatch(
        operation: "conv2d", lhs: shape, rhs: weight.shape,
        expected: "a kernel no larger than the padded input")
    }
    return geometry
  }
}
