import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// Training throughput of a paper mixture on a dataset, after a warm-up, with the process's
/// peak memory and the FLOP rate achieved (`expertstream bench train`).
///
/// Batches are drawn in one shuffled order (seed 0) and wrap around at the end of the data.
public struct TrainingBenchmark {
  /// What a benchmark measured.
  public struct Measurement: Sendable {
    /// Seconds of the timed batches.
    public let seconds: Double
    /// Training samples per second over the timed batches.
    public let samplesPerSecond: Double
    /// The process's peak resident memory, in MiB.
    public let peakMemoryMiB: Double
    /// Floating-point operations per training sample (see
    /// ``trainingFLOPsPerSample(_:)``).
    public let flopsPerSample: Double
    /// The engine's sgemm 1024³ rate in GFLOP/s, measured in the same run.
    public let engineRate: Double
    /// The GFLOP/s the training achieved.
    public var achievedRate: Double { flopsPerSample * samplesPerSecond / 1e9 }
  }

  /// The mixture's architecture.
  public var architecture: PaperArchitecture
  /// An attentive gate, else the original (softmax) one.
  public var attentive: Bool
  /// The number of experts.
  public var experts: Int
  /// The batch size.
  public var batch: Int
  /// L_s's β_same and β_different (the authors' placement), or none.
  public var betas: (same: Float, different: Float)?
  /// Timed batches.
  public var batches: Int
  /// Untimed batches first (allocator and caches settle).
  public var warmup: Int

  /// A benchmark of `architecture` with the given gate, experts and batch size.
  public init(
    architecture: PaperArchitecture, attentive: Bool, experts: Int, batch: Int,
    betas: (same: Float, different: Float)?, batches: Int, warmup: Int
  ) {
    self.architecture = architecture
    self.attentive = attentive
    self.experts = experts
    self.batch = batch
    self.betas = betas
    self.batches = batches
    self.warmup = warmup
  }

  /// Trains on `source` and measures; `threads` is the engine's thread count (for the
  /// sgemm reference rate).
  public func run(on source: any SampleSource, threads: Int) throws -> Measurement {
    var generator = RandomGenerator(seed: 0)
    let settings = PaperExperimentSettings(architecture: architecture, experts: experts)
    let experiment = PaperExperiment(settings: settings, train: source, test: source)
    let model = try experiment.makeModel(
      for: attentive ? .attentive : .original, using: &generator)
    let objective = MixtureObjective(
      sampleSimilarity: betas.map {
        SampleSimilarityRegularizer(
          betaSame: $0.same, betaDifferent: $0.different, placement: .differentOnly)
      })
    let optimizer = Adam()
    var order = Array(0..<source.sampleCount)
    order.shuffle(using: &generator)
    var cursor = 0
    func step() throws {
      if cursor + batch > order.count { cursor = 0 }
      let (input, labels) = try source.batch(Array(order[cursor..<(cursor + batch)]))
      cursor += batch
      _ = try model.trainStep(
        input: input, targets: labels, objective: objective, optimizer: optimizer)
    }
    for _ in 0..<warmup { try step() }
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<batches { try step() }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let peakMemory = peakResidentMemoryMiB()
    let peak = try OperationBenchmark.measurePeak(
      threads: threads, Stopwatch(trialSeconds: 0.05))
    return Measurement(
      seconds: seconds, samplesPerSecond: Double(batches * batch) / seconds,
      peakMemoryMiB: peakMemory,
      flopsPerSample: Self.trainingFLOPsPerSample(model), engineRate: peak.engine)
  }

  /// Floating-point operations per training sample of the model's linear and convolution
  /// layers, from their weight shapes: a weight [out, in] costs 2·in·out per sample forward,
  /// a 3×3 convolution [Cout, Cin, 3, 3] 2·Cin·9·Cout per output pixel (26×26 for the
  /// paper's 28×28 inputs); training triples it (forward, input gradient, weight gradient).
  ///
  /// Element-wise work (activations, pooling, normalisation, the optimiser) is not counted.
  public static func trainingFLOPsPerSample(_ model: MixtureOfExperts) -> Double {
    let forward = model.parameters().reduce(0.0) { total, parameter in
      let shape = parameter.tensor.shape
      guard parameter.key.hasSuffix("weight") else { return total }
      switch shape.count {
      case 2: return total + 2 * Double(shape[0] * shape[1])
      case 4: return total + 2 * Double(shape.reduce(1, *)) * 26 * 26
      default: return total
      }
    }
    return 3 * forward
  }

  /// Random 1×28×28 byte images with random labels, made once before timing (so the timed
  /// loop batches them exactly as it batches the real files).
  public static func syntheticImages(count: Int, seed: UInt64) throws -> Dataset {
    var generator = RandomGenerator(seed: seed)
    let pixels = (0..<(count * 784)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    let labels = (0..<count).map { _ in UInt8(generator.next() % 10) }
    return try Dataset(
      name: "synthetic", split: .train, sampleShape: [1, 28, 28], pixels: pixels,
      labels: labels, classCount: 10, mean: [0.2860], standardDeviation: [0.3530])
  }
}
