import Datasets
import Foundation
import MoE

// Reading and checking each section of a scenario file. Fields are read in a fixed order
// (the order of the checks that depend on each other), so the first error does not
// depend on the order of the file.

extension Scenario.DataSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case name, labels
    case trainSamplesPerClass = "train_samples_per_class"
    case testSamplesPerClass = "test_samples_per_class"
    case validationFraction = "validation_fraction"
    case evaluateOn = "evaluate_on"
    case augment
  }

  /// The `dataset` section, with defaults for absent fields.
  ///
  /// `null` caps mean every sample. Coarse labels are CIFAR-100's only; evaluating on
  /// validation samples needs a `validation_fraction` above 0.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    if let field = try fields.field(.name) {
      name = try field.choice(DatasetRegistry.all.map(\.name))
    }
    if let field = try fields.field(.labels) {
      labels = CIFARLabels(rawValue: try field.choice(["fine", "coarse"]))!
      guard labels == .fine || descriptor.name == DatasetRegistry.cifar100.name else {
        throw field.error("only cifar100 has coarse labels")
      }
    }
    if let field = try fields.nonNullField(.trainSamplesPerClass) {
      trainSamplesPerClass = try field.integer(in: 2...1_000_000)
    }
    if let field = try fields.nonNullField(.testSamplesPerClass) {
      testSamplesPerClass = try field.integer(in: 1...1_000_000)
    }
    if let field = try fields.field(.validationFraction) {
      validationFraction = try field.number(in: 0...0.9)
    }
    if let field = try fields.field(.augment) { augment = try field.bool() }
    if let field = try fields.field(.evaluateOn) {
      evaluateOn = try Scenario.EvaluationSplit(from: field)
      guard evaluateOn == .test || validationFraction > 0 else {
        throw field.error("evaluating on validation samples needs dataset.validation_fraction > 0")
      }
    }
  }
}

extension Scenario.Split: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case groups, tasks
    case classesPerTask = "classes_per_task"
    case order, seed
  }

  /// The `split` section: explicit `groups`, or `tasks` of `classes_per_task` classes.
  ///
  /// Groups and the even fields exclude each other. Class ids are checked against the
  /// dataset's classes by the scenario, which knows the dataset.
  public init(from decoder: any Decoder) throws {
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    if fields.contains(.groups) {
      let even: [CodingKeys] = [.tasks, .classesPerTask, .order, .seed]
      if let extra = even.first(where: fields.contains) {
        throw fields.error("give either split.groups or split.tasks, not both", at: extra)
      }
      self = .groups(try fields.decode([[Int]].self, forKey: .groups))
      return
    }
    let tasks = try fields.field(.tasks)?.integer(in: 1...1000) ?? 5
    let perTask = try fields.field(.classesPerTask)?.integer(in: 1...1000) ?? 2
    let permuted = try fields.field(.order).map { try $0.choice(["natural", "permuted"]) }
    let seed = try fields.field(.seed)?.integer(in: 0...Int(Int32.max)) ?? 0
    self = .even(
      tasks: tasks, classesPerTask: perTask, permuted: permuted == "permuted", seed: seed)
  }
}

extension Scenario.ModelSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case expert, experts, gate
    case hiddenCount = "attention_dim"
    case hiddenWidths = "hidden"
    case channels
    case gateHiddenWidths = "gate_hidden"
  }

  /// The `model` section, with defaults for absent fields.
  ///
  /// `channels` is for `conv` experts only; `gate_hidden` is not for paper architectures
  /// and, with the attentive gate, must end in `hidden`'s last width. Whether the expert
  /// takes the dataset's images is checked by the scenario.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    expert = try fields.value(ExpertKind.self, .expert) ?? expert
    if let field = try fields.field(.channels) {
      guard expert == .conv else { throw field.error("only conv experts have channels") }
      channels = try field.integer(in: 1...1024)
    }
    if let field = try fields.field(.experts) { experts = try field.integer(in: 1...1024) }
    gate = try fields.value(Scenario.GateKind.self, .gate) ?? gate
    if let field = try fields.nonNullField(.hiddenCount) {
      hiddenCount = try field.integer(in: 1...65_536)
    }
    if let field = try fields.field(.hiddenWidths) {
      hiddenWidths = try field.integers(in: 1...65_536)
      guard !hiddenWidths.isEmpty else { throw field.error("needs at least one width") }
    }
    if let field = try fields.nonNullField(.gateHiddenWidths) {
      guard expert.paperArchitecture == nil else {
        throw field.error("a paper architecture has its own gate trunk")
      }
      let widths = try field.integers(in: 1...65_536)
      guard !widths.isEmpty else { throw field.error("needs at least one width") }
      guard gate != .attentive || widths.last == hiddenWidths.last else {
        throw field.error(
          "the attentive gate's query is the trunk's output: its last width must be the "
            + "experts' d, model.hidden's last (\(hiddenWidths.last!))")
      }
      gateHiddenWidths = widths
    }
  }
}

extension Scenario.TrainingSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case epochs
    case batchSize = "batch_size"
    case optimizer, seed, loss
  }

  /// The seeds a scenario accepts: 0 through `Int32.max`.
  public static let seeds = 0...Int(Int32.max)

  /// The `training` section, with defaults for absent fields.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    if let field = try fields.field(.epochs) { epochs = try field.integer(in: 0...10_000) }
    if let field = try fields.field(.batchSize) { batchSize = try field.integer(in: 2...65_536) }
    if let field = try fields.field(.seed) { seed = try field.integer(in: Self.seeds) }
    if let field = try fields.field(.loss) { loss = try field.choice(MixtureLoss.self) }
    optimizer = try fields.value(Scenario.OptimizerSettings.self, .optimizer) ?? optimizer
  }
}

extension Scenario.OptimizerSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case name
    case learningRate = "learning_rate"
    case momentum
    case weightDecay = "weight_decay"
  }

  /// The `training.optimizer` section, with defaults for absent fields.
  ///
  /// Only `sgd` may have a non-zero momentum.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    name = try fields.value(Scenario.OptimizerKind.self, .name) ?? name
    if let field = try fields.field(.learningRate) {
      learningRate = try field.number(in: 1e-12...10)
    }
    if let field = try fields.field(.momentum) {
      momentum = try field.number(in: 0...0.9999)
      guard name == .sgd || momentum == 0 else { throw field.error("only sgd has momentum") }
    }
    if let field = try fields.field(.weightDecay) { weightDecay = try field.number(in: 0...1) }
  }
}

extension Scenario.RegularizerSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case sampleSimilarity = "sample_similarity"
    case importance
  }

  private enum SimilarityKeys: String, CodingKey, CaseIterable {
    case betaSame = "beta_same"
    case betaDifferent = "beta_different"
    case placement
  }

  private enum ImportanceKeys: String, CodingKey, CaseIterable {
    case weight
  }

  /// The `regularizers` section: each regularizer is off when absent or `null`.
  ///
  /// An object turns one on: L_s with betas of 0 unless given, L_imp with weight 0.2
  /// unless given.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    if let field = try fields.nonNullField(.sampleSimilarity) {
      let parts = try field.container(keyedBy: SimilarityKeys.self)
      var regularizer = SampleSimilarityRegularizer(betaSame: 0, betaDifferent: 0)
      if let beta = try parts.field(.betaSame) {
        regularizer.betaSame = Float(try beta.number(in: 0...1e6))
      }
      if let beta = try parts.field(.betaDifferent) {
        regularizer.betaDifferent = Float(try beta.number(in: 0...1e6))
      }
      if let placement = try parts.field(.placement) {
        regularizer.placement = try placement.choice(SampleSimilarityPlacement.self)
      }
      sampleSimilarity = regularizer
    }
    if let field = try fields.nonNullField(.importance) {
      let parts = try field.container(keyedBy: ImportanceKeys.self)
      let weight = try parts.field(.weight)?.number(in: 0...1e6) ?? 0.2
      importance = ImportanceRegularizer(weight: Float(weight))
    }
  }
}

extension Scenario.LifecycleSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case policy
    case expertsPerTask = "experts_per_task"
    case reuseThreshold = "reuse_threshold"
    case gate
    case replaySamples = "replay_samples"
    case ewcLambda = "ewc_lambda"
    case gateEpochs = "gate_epochs"
    case expertGranularity = "expert_granularity"
    case evidenceKind = "evidence_kind"
    case evidenceCalibration = "evidence_calibration"
    case evidenceRank = "evidence_rank"
    case evidenceTemperature = "evidence_temperature"
  }

  /// The `lifecycle` section, with defaults for absent fields.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    policy = try fields.value(PolicyName.self, .policy) ?? policy
    if let field = try fields.field(.ewcLambda) { ewcLambda = try field.number(in: 0...1e9) }
    if let field = try fields.field(.expertsPerTask) {
      expertsPerTask = try field.integer(in: 1...64)
    }
    if let field = try fields.field(.reuseThreshold) {
      reuseThreshold = try field.number(in: 0...1)
    }
    gate = try fields.value(Scenario.GateTraining.self, .gate) ?? gate
    if let field = try fields.field(.replaySamples) {
      replaySamples = try field.integer(in: 0...1_000_000)
    }
    if let field = try fields.field(.gateEpochs) { gateEpochs = try field.integer(in: 0...10_000) }
    if let field = try fields.field(.gate), gate.usesEvidence, policy != .spawnAndFreeze {
      throw field.error(
        "the \(gate) gate fits each expert when its task ends and routes by what it kept: "
          + "it needs lifecycle.policy spawn-and-freeze")
    }
    if let field = try fields.field(.expertGranularity) {
      expertGranularity = try field.choice(Scenario.ExpertGranularity.self)
      guard expertGranularity == .task || (gate.usesEvidence && expertsPerTask == 1) else {
        throw field.error(
          "one expert per class needs gate evidence or hybrid (a learned gate cannot tell "
            + "apart experts of one class each) and experts_per_task 1")
      }
    }
    let evidenceOnly = "only the evidence and hybrid gates have it"
    if let field = try fields.field(.evidenceKind) {
      guard gate.usesEvidence else { throw field.error(evidenceOnly) }
      evidenceKind = EvidenceKind(
        rawValue: try field.choice(EvidenceGate.kinds.map(\.rawValue)))!
    }
    if let field = try fields.field(.evidenceCalibration) {
      guard gate.usesEvidence else { throw field.error(evidenceOnly) }
      evidenceCalibration = try field.choice(EvidenceCalibration.self)
    }
    if let field = try fields.field(.evidenceRank) {
      guard gate.usesEvidence else { throw field.error(evidenceOnly) }
      evidenceRank = try field.integer(in: 1...4096)
    }
    if let field = try fields.field(.evidenceTemperature) {
      guard gate == .hybrid else { throw field.error("only the hybrid gate has it") }
      evidenceTemperature = try field.number(in: 1e-6...1e9)
    }
  }
}

extension Scenario.CheckpointSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case directory
    case everyTask = "every_task"
    case logDirectory = "log_dir"
  }

  /// The `checkpoint` section, with defaults for absent fields.
  ///
  /// The directory must be a non-empty path. (A scenario puts its checkpoints in
  /// `checkpoints/<name>` unless the section names a directory.)
  public init(from decoder: any Decoder) throws {
    try self.init(from: decoder, scenario: nil)
  }

  /// The section of the scenario `name`, whose directory defaults to `checkpoints/<name>`
  /// (the error for an empty directory suggests it too).
  init(from decoder: any Decoder, scenario name: String?) throws {
    self.init()
    if let name { directory = "checkpoints/\(name)" }
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    if let field = try fields.field(.directory) {
      directory = try field.string()
      guard !directory.isEmpty, !directory.contains("\0") else {
        throw field.error(
          "an empty path is no directory: give one such as \"checkpoints/\(name ?? "<name>")\", or leave "
            + "the field out for that default")
      }
    }
    if let field = try fields.field(.everyTask) { everyTask = try field.bool() }
    if let field = try fields.field(.logDirectory) {
      let path = try field.string()
      guard !path.isEmpty, !path.contains("\0") else {
        throw field.error("an empty path is no directory: give one, or leave the field out")
      }
      logDirectory = path
    }
  }
}

extension Scenario.PaperSettings: Decodable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case methods, seeds
    case distillationEpochs = "distillation_epochs"
    case distillFrom = "distill_from"
    case singleWeightDecay = "single_weight_decay"
  }

  /// The `paper` section, with defaults for absent fields.
  ///
  /// `methods` lists at least one method, each once; distillation starts from an
  /// attentive method other than `distilled`.
  public init(from decoder: any Decoder) throws {
    self.init()
    let fields = try decoder.container(keyedBy: CodingKeys.self)
    if let field = try fields.field(.methods) {
      var items = try field.unkeyedContainer()
      guard !items.isAtEnd else {
        let names = PaperMethod.allCases.map(\.rawValue).joined(separator: ", ")
        throw field.error("needs at least one method; one of \(names)")
      }
      methods = []
      while !items.isAtEnd {
        let item = try items.superDecoder()
        let method = try item.choice(PaperMethod.self)
        guard !methods.contains(method) else {
          throw item.error("'\(method.rawValue)' is listed twice")
        }
        methods.append(method)
      }
    }
    if let field = try fields.field(.seeds) { seeds = try field.integer(in: 1...1000) }
    if let field = try fields.field(.distillationEpochs) {
      distillationEpochs = try field.integer(in: 0...10_000)
    }
    if let field = try fields.field(.distillFrom) {
      let method = try field.choice(PaperMethod.self)
      guard method.usesAttentiveGate, method != .distilled else {
        throw field.error("distillation starts from an attentive method")
      }
      distillFrom = method
    }
    if let field = try fields.field(.singleWeightDecay) {
      singleWeightDecay = try field.number(in: 0...1)
    }
  }
}
