import Foundation
import MoE
import NN
import TensorCore

/// Labelled samples a training loop can draw batches from by index.
public protocol SampleSource {
  /// The dataset's registry name (`fashion-mnist`, `mnist`, `cifar100`) or the source's own.
  var name: String { get }
  /// The number of samples.
  var sampleCount: Int { get }
  /// The samples at `indices`, normalised, as [B, C, H, W], and their labels.
  func batch(_ indices: [Int]) throws -> (input: Tensor, labels: [Int])
}

/// The settings of one paper-style training run (one task, all classes).
public struct PaperExperimentSettings: Sendable {
  /// The expert and gate architecture.
  public var architecture: PaperArchitecture
  /// E, the number of experts.
  public var experts: Int
  /// K, the number of classes.
  public var classes: Int
  /// Epochs of training (the paper: 20).
  public var epochs: Int
  /// Epochs of gate distillation (the paper: 20).
  public var distillationEpochs: Int
  /// Batch size (the paper: 512).
  public var batchSize: Int
  /// Adam's learning rate (the paper: 1e-3).
  public var learningRate: Float
  /// Adam's weight decay for the mixtures (the authors' MNIST scripts: 1e-3; their
  /// FashionMNIST notebooks: 0).
  public var weightDecay: Float
  /// Adam's weight decay for the single network (the authors' code: 1e-6).
  public var singleWeightDecay: Float
  /// The data term of the mixtures' loss.
  public var loss: MixtureLoss
  /// L_s's settings for the `+ls` methods.
  public var sampleSimilarity: SampleSimilarityRegularizer
  /// L_imp's settings for the `+importance` methods.
  public var importance: ImportanceRegularizer
  /// The attentive method whose trained model `distilled` starts from.
  public var distillFrom: PaperMethod

  /// Settings with the paper's defaults for `architecture`.
  public init(
    architecture: PaperArchitecture, experts: Int = 5, classes: Int = 10, epochs: Int = 20,
    distillationEpochs: Int = 20, batchSize: Int = 512, learningRate: Float = 1e-3,
    weightDecay: Float = 1e-3, singleWeightDecay: Float = 1e-6, loss: MixtureLoss = .mixture,
    sampleSimilarity: SampleSimilarityRegularizer = .init(
      betaSame: 1e-6, betaDifferent: 1e-6, placement: .differentOnly),
    importance: ImportanceRegularizer = .init(weight: 0.2),
    distillFrom: PaperMethod = .attentiveSampleSimilarity
  ) {
    self.architecture = architecture
    self.experts = experts
    self.classes = classes
    self.epochs = epochs
    self.distillationEpochs = distillationEpochs
    self.batchSize = batchSize
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    self.singleWeightDecay = singleWeightDecay
    self.loss = loss
    self.sampleSimilarity = sampleSimilarity
    self.importance = importance
    self.distillFrom = distillFrom
  }
}

/// One method's outcome for one seed: the paper's metrics on the training and test sets.
public struct PaperRunResult: Sendable {
  /// The method.
  public var method: PaperMethod
  /// The seed.
  public var seed: UInt64
  /// The training set's registry name.
  public var dataset: String
  /// Routing statistics over the whole training set, in evaluation mode, after training.
  public var train: RoutingStatistics
  /// Routing statistics over the test set.
  public var test: RoutingStatistics
  /// Wall-clock seconds per training epoch (mean; for `distilled`, of the distillation).
  public var secondsPerEpoch: Double
  /// Training samples per second.
  public var samplesPerSecond: Double
  /// The mean training loss (data term) of each epoch.
  public var epochLosses: [Double]

  /// A result from its parts.
  public init(
    method: PaperMethod, seed: UInt64, dataset: String, train: RoutingStatistics,
    test: RoutingStatistics, secondsPerEpoch: Double, samplesPerSecond: Double,
    epochLosses: [Double]
  ) {
    self.method = method
    self.seed = seed
    self.dataset = dataset
    self.train = train
    self.test = test
    self.secondsPerEpoch = secondsPerEpoch
    self.samplesPerSecond = samplesPerSecond
    self.epochLosses = epochLosses
  }
}

/// What a run reports while it trains.
public enum PaperRunProgress {
  /// A batch finished: epoch (from 1), batches done in the epoch, batches per epoch,
  /// samples done in the epoch, the running mean loss of the epoch, seconds since the epoch
  /// started.
  case batch(epoch: Int, done: Int, of: Int, samples: Int, loss: Double, seconds: Double)
  /// An epoch finished: epoch, mean loss, seconds it took.
  case epoch(epoch: Int, of: Int, loss: Double, seconds: Double)
  /// A phase started (training, distillation, evaluation), with a description.
  case phase(String)
}

/// Trains and evaluates the paper's methods on one task with all classes.
public struct PaperExperiment {
  /// The settings.
  public let settings: PaperExperimentSettings
  /// The training samples.
  public let train: any SampleSource
  /// The test samples.
  public let test: any SampleSource

  /// An experiment on the given data.
  public init(settings: PaperExperimentSettings, train: any SampleSource, test: any SampleSource) {
    self.settings = settings
    self.train = train
    self.test = test
  }

  /// A new mixture for `method` (a one-expert mixture for `single`), drawn from `generator`.
  public func makeModel(for method: PaperMethod, using generator: inout RandomGenerator) throws
    -> MixtureOfExperts
  {
    let architecture = settings.architecture
    let count = method == .single ? 1 : settings.experts
    let experts: [any Expert] = try (0..<count).map { _ in
      try architecture.makeExpert(classCount: settings.classes, using: &generator)
    }
    if method == .single {
      return try MixtureOfExperts(experts: experts, gate: SingleExpertGate())
    }
    let trunk = try architecture.makeGateTrunk(using: &generator)
    let gate: any Gate =
      method.usesAttentiveGate
      ? try AttentiveGate(
        trunk: trunk, hiddenCount: architecture.hiddenCount, expertCount: count, using: &generator)
      : try SoftmaxGate(
        trunk: trunk, hiddenCount: architecture.hiddenCount, expertCount: count,
        using: &generator)
    return try MixtureOfExperts(experts: experts, gate: gate)
  }

  /// Trains `method` from `seed` and evaluates it.
  ///
  /// `distilled` trains ``PaperExperimentSettings/distillFrom`` first, unless `startingFrom`
  /// gives that trained model (it is not modified).
  public func run(
    _ method: PaperMethod, seed: UInt64, startingFrom trained: MixtureOfExperts? = nil,
    progress: (PaperRunProgress) -> Void = { _ in }
  ) throws -> (result: PaperRunResult, model: MixtureOfExperts) {
    var generator = RandomGenerator(seed: seed)
    var shuffler = RandomGenerator(seed: seed &+ 0x5eed)
    let model: MixtureOfExperts
    var timing: (seconds: Double, losses: [Double])
    if method == .distilled {
      let base: MixtureOfExperts
      if let trained {
        base = trained
      } else {
        base = try run(settings.distillFrom, seed: seed, progress: progress).model
      }
      model = try base.copy()
      guard let attentive = model.gate as? AttentiveGate else {
        throw ModuleError.invalidConfiguration(
          "distillation starts from an attentive mixture; \(settings.distillFrom.rawValue) is not")
      }
      for expert in model.experts { expert.freeze() }
      // The draws of a gate trunk, which earlier versions initialised here before loading
      // the trained one into it: the new output layer's draws, and so results, stay the same.
      _ = try settings.architecture.makeGateTrunk(using: &generator)
      let gate = try model.distilledGate(from: attentive, using: &generator)
      try model.replaceGate(with: gate)
      progress(.phase("distilling a softmax gate from \(settings.distillFrom.rawValue)"))
      timing = try fit(
        model, epochs: settings.distillationEpochs,
        objective: MixtureObjective(loss: settings.loss),
        optimizer: Adam(learningRate: settings.learningRate), shuffler: &shuffler,
        progress: progress)
    } else {
      model = try makeModel(for: method, using: &generator)
      let objective = method.objective(
        loss: method == .single ? .mixture : settings.loss,
        sampleSimilarity: settings.sampleSimilarity, importance: settings.importance)
      let decay = method == .single ? settings.singleWeightDecay : settings.weightDecay
      progress(.phase("training \(method.rawValue)"))
      timing = try fit(
        model, epochs: settings.epochs, objective: objective,
        optimizer: Adam(learningRate: settings.learningRate, weightDecay: decay),
        shuffler: &shuffler, progress: progress)
    }
    progress(.phase("evaluating \(method.rawValue)"))
    let trainStatistics = try evaluate(model, on: train)
    let testStatistics = try evaluate(model, on: test)
    let epochs = max(1, timing.losses.count)
    let secondsPerEpoch = timing.seconds / Double(epochs)
    return (
      PaperRunResult(
        method: method, seed: seed, dataset: train.name, train: trainStatistics,
        test: testStatistics,
        secondsPerEpoch: secondsPerEpoch,
        samplesPerSecond: Double(train.sampleCount) / max(secondsPerEpoch, 1e-9),
        epochLosses: timing.losses),
      model
    )
  }

  /// Trains `model` for `epochs` passes over the training set in seeded shuffled order.
  ///
  /// - Returns: The seconds spent and the mean data loss of each epoch.
  public func fit(
    _ model: MixtureOfExperts, epochs: Int, objective: MixtureObjective,
    optimizer: any Optimizer, shuffler: inout RandomGenerator,
    progress: (PaperRunProgress) -> Void
  ) throws -> (seconds: Double, losses: [Double]) {
    model.train(true)
    let count = train.sampleCount
    let batchSize = settings.batchSize
    let batches = (count + batchSize - 1) / batchSize
    var losses: [Double] = []
    var totalSeconds = 0.0
    for epoch in 1...max(epochs, 1) where epochs > 0 {
      let start = DispatchTime.now().uptimeNanoseconds
      var order = Array(0..<count)
      order.shuffle(using: &shuffler)
      var lossTotal = 0.0
      var samples = 0
      for index in 0..<batches {
        let indices = Array(order[(index * batchSize)..<min(count, (index + 1) * batchSize)])
        // A last batch of one sample cannot be batch-normalised; drop it as PyTorch users do.
        if indices.count < 2 { continue }
        let (input, labels) = try train.batch(indices)
        let terms = try model.trainStep(
          input: input, targets: labels, objective: objective, optimizer: optimizer)
        lossTotal += Double(terms.data)
        samples += indices.count
        progress(
          .batch(
            epoch: epoch, done: index + 1, of: batches, samples: samples,
            loss: lossTotal / Double(index + 1),
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      totalSeconds += seconds
      losses.append(lossTotal / Double(batches))
      progress(.epoch(epoch: epoch, of: epochs, loss: losses.last!, seconds: seconds))
    }
    return (totalSeconds, losses)
  }

  /// The routing statistics of `model` over every sample of `source`, in evaluation mode.
  public func evaluate(_ model: MixtureOfExperts, on source: any SampleSource) throws
    -> RoutingStatistics
  {
    model.train(false)
    defer { model.train(true) }
    var statistics = RoutingStatistics(experts: model.experts.count, classes: settings.classes)
    let size = 2048
    var start = 0
    while start < source.sampleCount {
      let indices = Array(start..<min(source.sampleCount, start + size))
      let (input, labels) = try source.batch(indices)
      try model.accumulate(into: &statistics, input: input, targets: labels)
      start += size
    }
    return statistics
  }
}
