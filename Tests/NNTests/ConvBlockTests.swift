import NN
import TensorCore
import Testing
import _TestSupport

/// A block and the same layers given one by one, with equal parameters and statistics
/// (batch normalisation's set away from its initial ones).
private func blockAndSeparateLayers(
  inChannels: Int, normalised: Bool, pooled: Bool
) throws -> (block: ConvBlock, separate: Sequential) {
  func layers() throws -> (Conv2D, BatchNorm2D?, MaxPool2D?) {
    var generator = RandomGenerator(seed: 81)
    let convolution = try Conv2D(inChannels, 3, kernelSize: 3, padding: 1, using: &generator)
    guard normalised else { return (convolution, nil, pooled ? MaxPool2D(kernelSize: 2) : nil) }
    let norm = try BatchNorm2D(3)
    try norm.weight.assign(try randomTensor([3], low: 0.5, high: 1.5, seed: 82))
    try norm.bias.assign(try randomTensor([3], seed: 83))
    try norm.runningMean.assign(try randomTensor([3], low: -0.2, high: 0.2, seed: 84))
    try norm.runningVariance.assign(try randomTensor([3], low: 0.5, high: 2, seed: 85))
    return (convolution, norm, pooled ? MaxPool2D(kernelSize: 2) : nil)
  }
  let (convolution, norm, pool) = try layers()
  let block = try ConvBlock(convolution, batchNorm: norm, pool: pool)
  let (separateConvolution, separateNorm, separatePool) = try layers()
  let separate = Sequential(
    [separateConvolution] + (separateNorm.map { [$0] } ?? []) + [ReLU()]
      + (separatePool.map { [$0] } ?? []))
  return (block, separate)
}

/// The block against its layers one by one: output, every gradient and the running
/// statistics, in training and evaluation, with and without batch normalisation and
/// pooling, on the row kernel (1 input channel) and the im2col one (4).
@Test(arguments: [1, 4], [false, true])
func convBlockMatchesItsLayersOneByOne(inChannels: Int, training: Bool) throws {
  for normalised in [false, true] {
    for pooled in [false, true] {
      let (block, separate) = try blockAndSeparateLayers(
        inChannels: inChannels, normalised: normalised, pooled: pooled)
      block.train(training)
      separate.train(training)
      func run(_ layer: any UnaryLayer) throws -> [[Float]] {
        let input = try randomTensor([4, inChannels, 9, 9], seed: 86)
        input.requiresGrad = true
        let output = try layer(input)
        try (output * output).sum().backward()
        return [output.values, input.grad!.values]
          + layer.state().map { $0.tensor.grad?.values ?? $0.tensor.values }
      }
      let (fused, unfused) = (try run(block), try run(separate))
      #expect(fused.count == unfused.count)
      // Parts: output, input gradient, the convolution's weight and bias gradients, then batch
      // normalisation's γ and β gradients and running statistics. Under batch statistics the
      // convolution's bias gradient is 0 in exact arithmetic (normalisation removes any
      // per-channel shift): both sides hold rounding noise only.
      let biasIsNoise = normalised && training
      for (index, (a, b)) in zip(fused, unfused).enumerated() {
        let context = "normalised \(normalised), pooled \(pooled), part \(index)"
        if biasIsNoise && index == 3 {
          #expect((a + b).allSatisfy { abs($0) < 1e-3 }, "\(context): \(a), \(b)")
          continue
        }
        #expect(allClose(a, b, relative: 1e-4, absolute: 1e-5), "\(context): \(closeness(a, b))")
      }
    }
  }
}

@Test func convBlockGradientsMatchFiniteDifferences() throws {
  for normalised in [false, true] {
    let (block, _) = try blockAndSeparateLayers(inChannels: 2, normalised: normalised, pooled: true)
    // Distinct, well separated values keep max-pooling and ReLU away from ties and kinks.
    let input = try randomTensor([3, 2, 6, 6], low: -2, high: 2, seed: 87)
    let result = try gradientCheck([input] + block.parameters().map(\.tensor), epsilon: 1e-3) {
      _ in try block(input)
    }
    #expect(result.worstError < 2e-2, "normalised \(normalised): \(result)")
  }
}

/// In a Sequential a block's keys are those of its layers given one by one.
@Test func aSequentialNumbersABlockAsItsLayers() throws {
  let (block, separate) = try blockAndSeparateLayers(
    inChannels: 1, normalised: true, pooled: true)
  var generator = RandomGenerator(seed: 88)
  let head = try Linear(3 * 16, 2, using: &generator)
  let withBlock = Sequential(block, Flatten(), head)
  let withLayers = Sequential(separate.layers + [Flatten(), head])
  #expect(withBlock.state().map(\.key) == withLayers.state().map(\.key))
  #expect(withBlock.state().map(\.key).last == "layers.5.bias")
  #expect(block.state().map(\.key).first == "convolution.weight")
  #expect(withBlock.layers.count == 6 && withBlock.layers[0] === block.convolution)
}

@Test func convBlockRejectsABatchNormOfAnotherWidth() throws {
  var generator = RandomGenerator(seed: 89)
  let convolution = try Conv2D(1, 4, kernelSize: 3, using: &generator)
  #expect(throws: ModuleError.self) { try ConvBlock(convolution, batchNorm: try BatchNorm2D(3)) }
}
