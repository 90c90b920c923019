import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// `expertstream bench train`: training throughput of a paper mixture on FashionMNIST (or
/// data of its shape), after a warm-up, with the process's peak memory.
struct BenchTrainCommand: Command {
  static let configuration = CommandConfiguration(
    name: "bench train",
    summary:
      "Train a paper mixture for a fixed number of batches; print samples/s and peak memory.",
    usage: [
      "bench train [--arch paper-mnist|paper-fmnist] [--gate original|attentive] [--experts E] "
        + "[--batch B] [--ls BETA_S,BETA_D] [--threads T] [--numerics MODE] [--batches N] [--warmup W] [--synthetic]"
    ],
    options: [
      .option("--arch", "NAME", "paper-mnist or paper-fmnist (default)."),
      .option("--gate", "KIND", "original (softmax) or attentive (default)."),
      .option("--experts", "E", "Number of experts (default 5)."),
      .option("--batch", "B", "Batch size (default 512)."),
      .option("--ls", "BETA_S,BETA_D", "Add L_s with the authors' placement."),
      .option("--threads", "T", "Engine threads (default: all cores)."),
      .numerics,
      .option("--batches", "N", "Timed batches (default 60)."),
      .option("--warmup", "W", "Untimed batches first (default 20: allocator and caches settle)."),
      .flag("--synthetic", "Random data of FashionMNIST's shape instead of the real files."),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
    ],
    examples: [
      "expertstream bench train --arch paper-mnist --gate attentive --ls 1e-6,1e-2 --threads 2"
    ])

  let architecture: PaperArchitecture
  let attentive: Bool
  let experts: Int
  let batch: Int
  let betas: (Float, Float)?
  let threads: Int
  let batches: Int
  let warmup: Int
  let synthetic: Bool
  let dataDirectory: String?

  init(_ arguments: ParsedArguments) throws {
    architecture = PaperArchitecture(
      rawValue: try arguments.choice("--arch", from: ["paper-mnist", "paper-fmnist"])
        ?? "paper-fmnist")!
    attentive =
      (try arguments.choice("--gate", from: ["original", "attentive"]) ?? "attentive")
      == "attentive"
    experts = try arguments.integer("--experts", in: 1...64) ?? 5
    batch = try arguments.integer("--batch", in: 2...65_536) ?? 512
    threads = try arguments.integer("--threads", in: 1...1024) ?? Compute.threads
    try arguments.selectNumerics()
    batches = try arguments.integer("--batches", in: 1...100_000) ?? 60
    warmup = try arguments.integer("--warmup", in: 0...100_000) ?? 20
    synthetic = arguments.flag("--synthetic")
    dataDirectory = arguments.value("--data-dir")
    if let text = arguments.value("--ls") {
      let parts = text.split(separator: ",").compactMap { Float($0) }
      guard parts.count == 2 else {
        throw UsageError("--ls takes two numbers, got '\(text)'", hint: "e.g. --ls 1e-6,1e-6")
      }
      betas = (parts[0], parts[1])
    } else {
      betas = nil
    }
  }

  func run(_ console: Console) throws {
    try BLAS.ensureLoaded()
    Compute.threads = threads
    var generator = RandomGenerator(seed: 0)
    let source: any SampleSource
    if synthetic {
      source = try syntheticImages(count: 60_000, seed: 1)
    } else {
      source = try DatasetRegistry.load(
        "fashion-mnist", split: .train, dataDirectory: dataDirectory)
    }
    let settings = PaperExperimentSettings(architecture: architecture, experts: experts)
    let experiment = PaperExperiment(settings: settings, train: source, test: source)
    let model = try experiment.makeModel(
      for: attentive ? .attentive : .original, using: &generator)
    let objective = MixtureObjective(
      sampleSimilarity: betas.map {
        SampleSimilarityRegularizer(betaSame: $0.0, betaDifferent: $0.1, placement: .differentOnly)
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
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let gate = attentive ? "attentive" : "original"
    let regularizer = betas.map { " + L_s(\($0.0), \($0.1))" } ?? ""
    console.print(
      "\(architecture.rawValue), \(gate) gate\(regularizer), \(experts) experts, batch \(batch), "
        + "\(threads) threads, \(synthetic ? "synthetic" : "FashionMNIST") data, "
        + "numerics \(BLAS.numericsDescription)")
    let samplesPerSecond = Double(batches * batch) / seconds
    console.print(
      String(
        format: "samples/s %.0f (%d batches in %.2f s after %d warm-up); peak memory %.0f MiB",
        samplesPerSecond, batches, seconds, warmup, Double(usage.ru_maxrss) / 1024))
    let flops = Self.trainingFLOPsPerSample(model)
    let peak = try BenchOpsCommand.measurePeak(threads: threads, Stopwatch(trialSeconds: 0.05))
    let achieved = flops * samplesPerSecond / 1e9
    console.print(
      String(
        format:
          "%.2f MFLOP per sample (forward + backward of the GEMM and convolution layers); "
          + "%.1f GFLOP/s, %.0f%% of the engine's sgemm 1024³ rate (%.1f GFLOP/s) in this run",
        flops / 1e6, achieved, 100 * achieved / peak.engine, peak.engine))
  }

  /// Floating-point operations per training sample of the model's linear and convolution
  /// layers, from their weight shapes: a weight [out, in] costs 2·in·out per sample forward,
  /// a 3×3 convolution [Cout, Cin, 3, 3] 2·Cin·9·Cout per output pixel (26×26 for the
  /// paper's 28×28 inputs); training triples it (forward, input gradient, weight gradient).
  /// Element-wise work (activations, pooling, normalisation, the optimiser) is not counted.
  static func trainingFLOPsPerSample(_ model: MixtureOfExperts) -> Double {
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
}

/// Random 1×28×28 byte images with random labels, made once before timing (so the timed
/// loop batches them exactly as it batches the real files).
private func syntheticImages(count: Int, seed: UInt64) throws -> Dataset {
  var generator = RandomGenerator(seed: seed)
  let pixels = (0..<(count * 784)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
  let labels = (0..<count).map { _ in UInt8(generator.next() % 10) }
  return try Dataset(
    name: "synthetic", split: .train, sampleShape: [1, 28, 28], pixels: pixels, labels: labels,
    classCount: 10, mean: [0.2860], standardDeviation: [0.3530])
}
