import Continual
import MoE
import TensorCore
import Testing

/// 28×28 images whose class is written as a bright 4×4 block at a class-specific place.
private struct BlockImages: SampleSource {
  let labels: [Int]
  let noise: [Float]

  init(count: Int, seed: UInt64) {
    var generator = RandomGenerator(seed: seed)
    labels = (0..<count).map { _ in Int(generator.next() % 4) }
    noise = (0..<count * 784).map { _ in 0.3 * generator.nextNormal() }
  }

  var name: String { "block-images" }
  var sampleCount: Int { labels.count }

  func batch(_ indices: [Int]) throws -> (input: Tensor, labels: [Int]) {
    var values = [Float](repeating: 0, count: indices.count * 784)
    for (row, index) in indices.enumerated() {
      let label = labels[index]
      for pixel in 0..<784 {
        let (y, x) = (pixel / 28, pixel % 28)
        let inside = y / 7 == label && x >= 10 && x < 18
        values[row * 784 + pixel] = noise[index * 784 + pixel] + (inside ? 2 : 0)
      }
    }
    return (
      try Tensor(shape: [indices.count, 1, 28, 28], values: values), indices.map { labels[$0] }
    )
  }
}

private func experiment() -> PaperExperiment {
  let settings = PaperExperimentSettings(
    architecture: .fashionMNIST, experts: 2, classes: 4, epochs: 3, distillationEpochs: 1,
    batchSize: 32, learningRate: 0.01, distillFrom: .attentive)
  return PaperExperiment(
    settings: settings, train: BlockImages(count: 128, seed: 1),
    test: BlockImages(count: 64, seed: 2))
}

@Test func everyMethodTrainsAndIsMeasuredOnTrainAndTest() throws {
  let experiment = experiment()
  var epochsSeen = 0
  for method in [PaperMethod.single, .originalSampleSimilarity, .attentiveImportance] {
    let (result, model) = try experiment.run(method, seed: 3) { event in
      if case .epoch = event { epochsSeen += 1 }
    }
    #expect(result.train.samples == 128 && result.test.samples == 64)
    #expect(result.epochLosses.count == 3)
    #expect(
      result.epochLosses.last! < result.epochLosses.first!, "\(method): \(result.epochLosses)")
    #expect(result.test.error < 0.5, "\(method): test error \(result.test.error)")
    #expect(model.experts.count == (method == .single ? 1 : 2))
  }
  #expect(epochsSeen == 9)
}

@Test func distillationFreezesTheExpertsAndReplacesTheGate() throws {
  let experiment = experiment()
  let (_, attentive) = try experiment.run(.attentive, seed: 4)
  let expertsBefore = attentive.experts.map { $0.parameters().map(\.tensor.values) }
  let (result, distilled) = try experiment.run(.distilled, seed: 4, startingFrom: attentive)
  #expect(distilled.gate is SoftmaxGate)
  #expect(distilled.experts.map { $0.parameters().map(\.tensor.values) } == expertsBefore)
  #expect(attentive.gate is AttentiveGate)
  #expect(result.epochLosses.count == 1)
  #expect(result.test.error < 0.5)
}

@Test func theSameSeedGivesTheSameRun() throws {
  let experiment = experiment()
  let first = try experiment.run(.original, seed: 5).result
  let second = try experiment.run(.original, seed: 5).result
  #expect(first.epochLosses == second.epochLosses)
  #expect(first.test == second.test)
}
