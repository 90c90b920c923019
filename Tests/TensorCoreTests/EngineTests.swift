import Dispatch
import Foundation
import TensorCore
import Testing
import _TestSupport

/// The message of the TensorError `body` throws, or a recorded issue.
private func message(_ body: () throws -> Tensor) -> String {
  do {
    _ = try body()
    Issue.record("expected a TensorError")
  } catch let error as TensorError {
    return error.description
  } catch {
    Issue.record("unexpected \(error)")
  }
  return ""
}

@Test func badShapesAndIndicesThrowNamingTheShapes() throws {
  let a = try Tensor.zeros([2, 3])
  let b = try Tensor.zeros([4, 3])
  #expect(message { try a + b }.contains("[2, 3] and [4, 3]"))
  #expect(
    message { try Tensor.concatenate([a, try Tensor.zeros([2, 3, 1])], axis: 0) }.contains("[2, 3]")
  )
  #expect(message { try a.reshaped([4, 2]) }.contains("[2, 3]"))
  #expect(message { try a.gather([0, 5], axis: 1) }.contains("index 5"))
  #expect(message { try a.slice(axis: 0, 1..<3) }.contains("[2, 3]"))
  #expect(message { try a.takeAlongLastAxis([0, 3]) }.contains("index 3"))
  let image = try Tensor.zeros([1, 2, 5, 5])
  let weight = try Tensor.zeros([3, 4, 3, 3])
  let conv = message { try image.conv2d(weight: weight) }
  #expect(conv.contains("[1, 2, 5, 5]") && conv.contains("[3, 4, 3, 3]"))
  #expect(message { try image.maxPool2d(kernelSize: 6) }.contains("[1, 2, 5, 5]"))
}

/// conv2d by a direct nested loop, for checking the fast kernels' forward values.
private func referenceConvolution(
  _ input: Tensor, _ weight: Tensor, stride: Int, padding: Int
) -> [Float] {
  let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
  let (o, k) = (weight.shape[0], weight.shape[2])
  let outH = (h + 2 * padding - k) / stride + 1
  let outW = (w + 2 * padding - k) / stride + 1
  let x = input.values
  let f = weight.values
  var out = [Float](repeating: 0, count: n * o * outH * outW)
  for b in 0..<n {
    for oc in 0..<o {
      for y in 0..<outH {
        for xo in 0..<outW {
          var total = 0.0
          for ic in 0..<c {
            for ky in 0..<k {
              for kx in 0..<k {
                let iy = y * stride + ky - padding
                let ix = xo * stride + kx - padding
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                total +=
                  Double(x[((b * c + ic) * h + iy) * w + ix])
                  * Double(f[((oc * c + ic) * k + ky) * k + kx])
              }
            }
          }
          out[((b * o + oc) * outH + y) * outW + xo] = Float(total)
        }
      }
    }
  }
  return out
}

@Test(arguments: [(1, 1, 0), (8, 1, 1), (2, 2, 1), (1, 3, 2)])
func convolutionKernelsMatchADirectLoop(channels: Int, stride: Int, padding: Int) throws {
  let input = try randomTensor([2, channels, 9, 11], seed: 1)
  let weight = try randomTensor([4, channels, 3, 3], seed: 2)
  let output = try input.conv2d(weight: weight, stride: stride, padding: padding)
  let expected = referenceConvolution(input, weight, stride: stride, padding: padding)
  #expect(allClose(output.values, expected, relative: 1e-4, absolute: 1e-5))
}

@Test func gradientsAccumulateAcrossBackwardCalls() throws {
  let x = try Tensor(shape: [3], values: [1, 2, 3], requiresGrad: true)
  try (x * x).sum().backward()
  try (x * 3).sum().backward()
  #expect(x.grad?.values == [5, 7, 9])
}

@Test func frozenLeavesGetNoGradientAndDisabledScopesRecordNothing() throws {
  let trained = try Tensor(shape: [2], values: [1, 2], requiresGrad: true)
  let frozen = try Tensor(shape: [2], values: [3, 4])
  try (trained * frozen).sum().backward()
  #expect(trained.grad?.values == [3, 4])
  #expect(frozen.grad == nil)
  let unrecorded = try withGradientsDisabled { try (trained * frozen).sum() }
  #expect(unrecorded.isLeaf && !unrecorded.requiresGrad)
  #expect(try (frozen * frozen).isLeaf)
  #expect(throws: TensorError.self) { try (trained * 2).backward() }
  #expect(throws: TensorError.self) { try frozen.sum().backward() }
}

@Test func graphsAreFreedWhenTheResultIsDropped() throws {
  // Backward closures capture their inputs, never their result: no retain cycles. A weak
  // reference to an intermediate node must go nil once the loss is gone.
  weak var intermediate: Tensor?
  weak var storage: TensorStorage?
  let parameter = try randomTensor([4, 4], seed: 3)
  parameter.requiresGrad = true
  do {
    let hidden = try parameter.matmul(parameter).relu()
    intermediate = hidden
    storage = hidden.storage
    let loss = try hidden.softmax(axis: 1).log().mean()
    #expect(loss.graphSize >= 4)
    try loss.backward()
  }
  #expect(intermediate == nil)
  #expect(storage == nil)
  #expect(parameter.grad != nil)
}

/// Runs `body` at 1 and at 2 engine threads and returns both results.
private func atOneAndTwoThreads(_ body: () throws -> [Float]) rethrows -> ([Float], [Float]) {
  let saved = Compute.threads
  defer { Compute.threads = saved }
  Compute.threads = 1
  let one = try body()
  Compute.threads = 2
  return (one, try body())
}

@Suite(.serialized) struct ThreadDeterminism {
  @Test func convolutionForwardAndBackwardAreBitIdentical() throws {
    let (one, two) = try atOneAndTwoThreads {
      let input = try randomTensor([64, 1, 28, 28], seed: 4)
      let weight = try randomTensor([8, 1, 3, 3], seed: 5)
      input.requiresGrad = true
      weight.requiresGrad = true
      let output = try input.conv2d(weight: weight, padding: 1)
      try (output * output).sum().backward()
      return output.values + input.grad!.values + weight.grad!.values
    }
    #expect(one == two)
  }

  @Test func fusedConvolutionBlockIsBitIdentical() throws {
    let (one, two) = try atOneAndTwoThreads {
      let input = try randomTensor([64, 1, 28, 28], seed: 7)
      let weight = try randomTensor([2, 1, 3, 3], seed: 8)
      let bias = try randomTensor([2], seed: 9)
      for tensor in [input, weight, bias] { tensor.requiresGrad = true }
      let output = try input.convolutionReLUMaxPool(weight: weight, bias: bias, poolSize: 2)
      try (output * output).sum().backward()
      return output.values + input.grad!.values + weight.grad!.values + bias.grad!.values
    }
    #expect(one == two)
  }

  @Test func fusedNormalizedConvolutionBlockIsBitIdentical() throws {
    let (one, two) = try atOneAndTwoThreads {
      let input = try randomTensor([64, 1, 28, 28], seed: 10)
      let weight = try randomTensor([8, 1, 3, 3], seed: 11)
      let bias = try randomTensor([8], seed: 12)
      let gamma = try randomTensor([8], low: 0.5, high: 1.5, seed: 13)
      let beta = try randomTensor([8], seed: 14)
      let (mean, variance) = (try Tensor.zeros([8]), try Tensor.ones([8]))
      for tensor in [input, weight, bias, gamma, beta] { tensor.requiresGrad = true }
      let output = try input.convolutionBatchNormReLUMaxPool(
        weight: weight, bias: bias, normalizationWeight: gamma, normalizationBias: beta,
        runningMean: mean, runningVariance: variance, training: true, poolSize: 2)
      try (output * output).sum().backward()
      return output.values + mean.values + variance.values
        + [input, weight, bias, gamma, beta].flatMap { $0.grad!.values }
    }
    #expect(one == two)
  }

  @Test func reductionsSoftmaxAndBatchNormAreBitIdentical() throws {
    let (one, two) = try atOneAndTwoThreads {
      let x = try randomTensor([256, 8, 13, 13], seed: 6)
      x.requiresGrad = true
      let normalised = try x.batchNorm(
        weight: nil, bias: nil, runningMean: nil, runningVariance: nil, training: true)
      let pooled = try normalised.maxPool2d(kernelSize: 2)
      let flat = try pooled.reshaped([256, 8 * 36])
      let loss = try flat.logSoftmax(axis: 1).sum()
      try loss.backward()
      return [try loss.item(), try x.sum().item()] + x.grad!.values
    }
    #expect(one == two)
  }
}

/// The fused block against the three ops it replaces, in both orders of ReLU and pooling.
@Test(arguments: [(1, 0, 2, 2), (2, 1, 2, 2), (3, 1, 3, 2)])
func fusedConvolutionBlockMatchesTheUnfusedOps(
  channels: Int, padding: Int, poolSize: Int, poolStride: Int
) throws {
  func run(_ op: (Tensor, Tensor, Tensor) throws -> Tensor) throws -> [[Float]] {
    let input = try randomTensor([5, channels, 12, 12], seed: 21)
    let weight = try randomTensor([4, channels, 3, 3], seed: 22)
    let bias = try randomTensor([4], seed: 23)
    for tensor in [input, weight, bias] { tensor.requiresGrad = true }
    let output = try op(input, weight, bias)
    try (output * output).sum().backward()
    return [output.values, input.grad!.values, weight.grad!.values, bias.grad!.values]
  }
  let fused = try run {
    try $0.convolutionReLUMaxPool(
      weight: $1, bias: $2, padding: padding, poolSize: poolSize, poolStride: poolStride)
  }
  let reluFirst = try run {
    try $0.conv2d(weight: $1, bias: $2, padding: padding).relu()
      .maxPool2d(kernelSize: poolSize, stride: poolStride)
  }
  let poolFirst = try run {
    try $0.conv2d(weight: $1, bias: $2, padding: padding)
      .maxPool2d(kernelSize: poolSize, stride: poolStride).relu()
  }
  for (a, (b, c)) in zip(fused, zip(reluFirst, poolFirst)) {
    #expect(allClose(a, b, relative: 1e-5, absolute: 1e-5))
    #expect(allClose(a, c, relative: 1e-5, absolute: 1e-5))
  }
}

/// The fused normalised block against the four ops it replaces: values, every gradient and
/// the running statistics, in training and in evaluation.
@Test(arguments: [(1, 0, 12, true), (2, 1, 13, true), (1, 0, 12, false), (3, 0, 11, true)])
func fusedNormalizedConvolutionBlockMatchesTheUnfusedOps(
  channels: Int, padding: Int, size: Int, training: Bool
) throws {
  func run(_ fused: Bool) throws -> [[Float]] {
    let input = try randomTensor([5, channels, size, size], seed: 31)
    let weight = try randomTensor([4, channels, 3, 3], seed: 32)
    let bias = try randomTensor([4], seed: 33)
    let gamma = try randomTensor([4], seed: 34)
    let beta = try randomTensor([4], seed: 35)
    let mean = try randomTensor([4], low: -0.2, high: 0.2, seed: 36)
    let variance = try randomTensor([4], low: 0.5, high: 2, seed: 37)
    for tensor in [input, weight, bias, gamma, beta] { tensor.requiresGrad = true }
    let output =
      fused
      ? try input.convolutionBatchNormReLUMaxPool(
        weight: weight, bias: bias, padding: padding, normalizationWeight: gamma,
        normalizationBias: beta, runningMean: mean, runningVariance: variance,
        training: training, poolSize: 2)
      : try input.conv2d(weight: weight, bias: bias, padding: padding)
        .batchNorm(
          weight: gamma, bias: beta, runningMean: mean, runningVariance: variance,
          training: training
        )
        .relu().maxPool2d(kernelSize: 2)
    try (output * output).sum().backward()
    return [output.values, mean.values, variance.values]
      + [input, weight, gamma, beta].map { $0.grad!.values }
  }
  let (fused, unfused) = (try run(true), try run(false))
  for (index, (a, b)) in zip(fused, unfused).enumerated() {
    #expect(allClose(a, b, relative: 1e-4, absolute: 1e-5), "part \(index): \(closeness(a, b))")
  }
}

/// In evaluation without a gradient the fused normalised block pools each plane as it is
/// convolved; its output is bit-identical to the evaluation that records a graph.
@Test(arguments: [(1, 0, 12), (2, 1, 13)])
func fusedNormalizedBlockEvaluatesTheSameWithoutAGraph(
  channels: Int, padding: Int, size: Int
) throws {
  let input = try randomTensor([5, channels, size, size], seed: 41)
  let weight = try randomTensor([4, channels, 3, 3], seed: 42)
  let bias = try randomTensor([4], seed: 43)
  let gamma = try randomTensor([4], seed: 44)
  let beta = try randomTensor([4], seed: 45)
  let mean = try randomTensor([4], low: -0.2, high: 0.2, seed: 46)
  let variance = try randomTensor([4], low: 0.5, high: 2, seed: 47)
  weight.requiresGrad = true
  func evaluate() throws -> Tensor {
    try input.convolutionBatchNormReLUMaxPool(
      weight: weight, bias: bias, padding: padding, normalizationWeight: gamma,
      normalizationBias: beta, runningMean: mean, runningVariance: variance, training: false,
      poolSize: 2)
  }
  let recorded = try evaluate()
  let plain = try withGradientsDisabled { try evaluate() }
  #expect(recorded.requiresGrad && !plain.requiresGrad)
  #expect(plain.shape == recorded.shape && plain.values == recorded.values)
}

/// Every chunk runs exactly once, for loops started one after another, from inside a chunk
/// (those run on the calling thread) and from several threads at once (one uses the
/// workers, the others their own thread).
@Test func everyChunkRunsOnceWhetherLoopsAreNestedOrConcurrent() {
  let saved = Compute.threads
  defer { Compute.threads = saved }
  Compute.threads = 3
  final class Counts: @unchecked Sendable {
    let values: UnsafeMutablePointer<Int>
    let count: Int
    init(_ count: Int) {
      self.count = count
      values = .allocate(capacity: count)
      values.initialize(repeating: 0, count: count)
    }
    deinit { values.deallocate() }
    var all: [Int] { Array(UnsafeBufferPointer(start: values, count: count)) }
  }
  for chunks in [1, 2, 3, 7, 64, 1000] {
    for _ in 0..<50 {
      let counts = Counts(chunks)
      Compute.parallelFor(chunks) { counts.values[$0] += 1 }
      #expect(counts.all == [Int](repeating: 1, count: chunks))
    }
  }
  let outer = Counts(8 * 16)
  Compute.parallelFor(8) { chunk in
    Compute.parallelFor(16) { inner in outer.values[chunk * 16 + inner] += 1 }
  }
  #expect(outer.all == [Int](repeating: 1, count: 8 * 16))
  let perThread = (0..<4).map { _ in Counts(200) }
  DispatchQueue.concurrentPerform(iterations: 4) { thread in
    for _ in 0..<100 {
      Compute.parallelFor(200) { perThread[thread].values[$0] += 1 }
    }
  }
  for counts in perThread { #expect(counts.all == [Int](repeating: 100, count: 200)) }
}

/// The calling thread keeps taking chunks however many loops the process has run: a ticket
/// whose loop number turned its sign left every chunk to the worker for half of every 2¹⁶
/// loops, with the caller spinning.
@Test func theCallerTakesChunksThroughAWholeCycleOfLoopNumbers() {
  let saved = Compute.threads
  defer { Compute.threads = saved }
  Compute.threads = 2
  let caller = pthread_self()
  let window = 1024
  var idleWindows = 0
  for _ in 0..<((1 << 16) / window + 2) {
    let ranHere = UnsafeMutablePointer<Int>.allocate(capacity: 16)
    defer { ranHere.deallocate() }
    ranHere.initialize(repeating: 0, count: 16)
    nonisolated(unsafe) let counts = ranHere
    for _ in 0..<window {
      Compute.parallelFor(16) { chunk in
        if pthread_equal(pthread_self(), caller) != 0 { counts[chunk] += 1 }
      }
    }
    if (0..<16).allSatisfy({ ranHere[$0] == 0 }) { idleWindows += 1 }
  }
  #expect(idleWindows == 0)
}
