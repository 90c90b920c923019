import Datasets
import Foundation
import MoE

/// A validated scenario: what a researcher writes in `tasks/*.json`, with every default
/// filled in. `tasks/README.md` documents each field.
public struct Scenario: Sendable, Equatable {
  /// Which data, and how much of it.
  public struct DataSettings: Sendable, Equatable {
    /// `fashion-mnist`, `mnist` or `cifar100`.
    public var name = "fashion-mnist"
    /// CIFAR-100's fine or coarse labels.
    public var labels = CIFARLabels.fine
    /// Training samples kept per class (the first ones in file order), or all.
    public var trainSamplesPerClass: Int?
    /// Test samples kept per class, or all.
    public var testSamplesPerClass: Int?
    /// The fraction of each task's training samples held out for validation.
    public var validationFraction = 0.1
    /// The samples a continual run evaluates on: the test set, or the held-out validation
    /// samples (to choose settings without looking at the test set).
    public var evaluateOn = EvaluationSplit.test
    /// Random crops and flips while training (CIFAR).
    public var augment = false
  }

  /// The samples a continual run's accuracies and routing are measured on.
  public enum EvaluationSplit: String, Sendable, CaseIterable {
    /// The dataset's test split.
    case test
    /// The validation samples held out of each task's training samples
    /// (`dataset.validation_fraction`).
    case validation
  }

  /// How classes are grouped into tasks.
  public enum Split: Sendable, Equatable {
    /// Explicit class groups, one per task.
    case groups([[Int]])
    /// `tasks` tasks of `classesPerTask` classes, in natural or seeded-permuted order.
    case even(tasks: Int, classesPerTask: Int, permuted: Bool, seed: Int)
  }

  /// Which evaluation protocol.
  public enum Evaluation: String, Sendable, CaseIterable {
    /// Task identity known at test; labels local to the task.
    case taskIncremental = "task-incremental"
    /// No task identity; one head over every class seen.
    case classIncremental = "class-incremental"
    /// Both, from the same run.
    case both
  }

  /// The mixture.
  public struct ModelSettings: Sendable, Equatable {
    /// `paper-mnist`, `paper-fmnist`, `paper-cifar100`, `mlp` or `conv`.
    public var expert = "paper-fmnist"
    /// Experts at the start.
    public var experts = 5
    /// `softmax` or `attentive`.
    public var gate = "attentive"
    /// The attentive gate's d (the expert hidden size); `nil` for the architecture's.
    public var attentionDimension: Int?
    /// Hidden widths of `mlp` experts (after the convolution block of `conv` experts) and
    /// of their gate trunk; the last is d.
    public var hidden = [400, 400]
    /// Filters of a `conv` expert's 3×3 convolution.
    public var channels = 8
    /// Hidden widths of the gate trunk of `mlp` and `conv` experts, when not `hidden`.
    public var gateHidden: [Int]?

    /// The widths of the gate trunk of `mlp` and `conv` experts.
    public var gateTrunkWidths: [Int] { gateHidden ?? hidden }
  }

  /// The optimiser.
  public struct OptimizerSettings: Sendable, Equatable {
    /// `adam` or `sgd`.
    public var name = "adam"
    /// The step size.
    public var learningRate = 1e-3
    /// SGD's momentum.
    public var momentum = 0.0
    /// L2 weight decay.
    public var weightDecay = 0.0
  }

  /// How each task is trained.
  public struct TrainingSettings: Sendable, Equatable {
    /// Epochs per task.
    public var epochs = 1
    /// Samples per batch.
    public var batchSize = 128
    /// The optimiser.
    public var optimizer = OptimizerSettings()
    /// The seed of every random draw of the run.
    public var seed = 0
    /// `mixture` or `competitive`.
    public var loss = MixtureLoss.mixture
  }

  /// L_s and L_imp settings; `nil` turns one off.
  public struct RegularizerSettings: Sendable, Equatable {
    /// L_s.
    public var sampleSimilarity: SampleSimilarityRegularizer?
    /// L_imp.
    public var importance: ImportanceRegularizer?
  }

  /// What happens to experts and gate between tasks.
  public struct LifecycleSettings: Sendable, Equatable {
    /// `shared`, `spawn-and-freeze` or `reuse-or-spawn`.
    public var policy = "shared"
    /// Experts spawned per task by the spawning policies.
    public var expertsPerTask = 1
    /// reuse-or-spawn: reuse frozen experts whose validation accuracy on the new task's
    /// classes (with the gate restricted to them) reaches this fraction.
    public var reuseThreshold = 0.9
    /// `trainable`, `rows-frozen` or `replay`.
    public var gate = "trainable"
    /// Samples kept for gate replay (and for the `replay` baseline).
    public var replaySamples = 200
    /// λ of the `ewc` baseline's penalty.
    public var ewcLambda = 100.0
    /// Epochs of training the gate alone on the replay buffer after each task (gate
    /// `replay` only): the buffer holds every task seen in proportion, so this corrects the
    /// gate's bias towards the task just trained.
    public var gateEpochs = 0

    /// The policies: the MoE lifecycles, then the single-network baselines.
    public static let policies = [
      "shared", "spawn-and-freeze", "reuse-or-spawn", "fine-tune", "ewc", "replay", "joint",
    ]
  }

  /// Where checkpoints go.
  public struct CheckpointSettings: Sendable, Equatable {
    /// The directory (relative paths are relative to the working directory).
    public var directory = "checkpoints"
    /// Whether every task writes `task_NNN.h5` (else only `latest.h5`).
    public var everyTask = true
  }

  /// The paper's method comparison (`mode: paper`).
  public struct PaperSettings: Sendable, Equatable {
    /// Methods run by default.
    public var methods: [PaperMethod] = [.original, .attentive]
    /// Seeds per method.
    public var seeds = 1
    /// Epochs of gate distillation.
    public var distillationEpochs = 20
    /// The attentive method `distilled` starts from.
    public var distillFrom = PaperMethod.attentiveSampleSimilarity
    /// Adam's weight decay for the single network.
    public var singleWeightDecay = 1e-6
  }

  /// The scenario's name.
  public var name = "scenario"
  /// `continual` (a task stream) or `paper` (one task, the paper's method comparison).
  public var mode = "continual"
  /// The data.
  public var dataset = DataSettings()
  /// The class split.
  public var split = Split.even(tasks: 5, classesPerTask: 2, permuted: false, seed: 0)
  /// The evaluation protocol.
  public var evaluation = Evaluation.both
  /// The mixture.
  public var model = ModelSettings()
  /// Training.
  public var training = TrainingSettings()
  /// Regularizers.
  public var regularizers = RegularizerSettings()
  /// Lifecycle.
  public var lifecycle = LifecycleSettings()
  /// Checkpoints.
  public var checkpoint = CheckpointSettings()
  /// The paper comparison.
  public var paper = PaperSettings()

  /// The number of classes of the dataset (CIFAR-100 coarse: 20).
  public var classCount: Int {
    dataset.name == "cifar100" ? (dataset.labels == .fine ? 100 : 20) : 10
  }
}

// MARK: - Loading

extension Scenario {
  /// Reads, overrides and validates the scenario file at `path`.
  ///
  /// - Parameter overrides: `key.path=value` strings applied to the JSON before validation
  ///   (`training.epochs=2`); the value is parsed as JSON when it parses, else taken as a
  ///   string.
  /// - Throws: ``ScenarioError`` naming the file and JSON path; for a file that cannot be
  ///   read, the system's reason (`cannot read: permission denied`, `is a directory, not a
  ///   file`).
  public static func load(_ path: String, overrides: [String] = []) throws -> Scenario {
    try parse(Data(JSONFile.contents(path)), file: path, overrides: overrides)
  }

  /// Parses and validates scenario JSON.
  ///
  /// - Throws: ``ScenarioError``: with the line and column for text that is not JSON (a
  ///   syntax error, a key given twice in an object, a number too large for an Int or a
  ///   Double); with the field's path for a value that is not allowed.
  public static func parse(_ data: Data, file: String, overrides: [String] = []) throws -> Scenario
  {
    var root: Any
    do {
      root = try JSONParser.parse(data)
    } catch {
      throw error.scenarioError(file: file)
    }
    if let object = root as? [String: Any], object["axes"] != nil || object["variants"] != nil {
      throw ScenarioError(
        file: file, path: object["axes"] != nil ? "axes" : "variants",
        message: "this is a sweep file, not a scenario: run it with `expertstream sweep \(file)`")
    }
    for override in overrides { root = try apply(override, to: root, file: file) }
    return try Scenario(JSONReader(file: file, path: "", value: root))
  }

  /// Applies one `key.path=value` override to a JSON tree.
  static func apply(_ override: String, to root: Any, file: String) throws -> Any {
    guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
      throw ScenarioError(
        file: "--set", path: override, message: "expected key.path=value, e.g. training.epochs=2")
    }
    let keys = override[..<equals].split(separator: ".").map(String.init)
    let text = String(override[override.index(after: equals)...])
    let value: Any
    do {
      value = try JSONParser.parse(Data(text.utf8))
    } catch  where error.isNumberOutOfRange {
      throw ScenarioError(
        file: "--set", path: keys.joined(separator: "."), message: error.message)
    } catch {
      value = text
    }
    func set(_ node: Any, _ remaining: ArraySlice<String>) throws -> Any {
      guard let key = remaining.first else { return value }
      var object = node as? [String: Any] ?? [:]
      if !(node is [String: Any]) && !(node is NSNull) {
        throw ScenarioError(
          file: "--set", path: keys.joined(separator: "."),
          message: "'\(key)' is inside a field that is not an object")
      }
      object[key] = try set(object[key] ?? NSNull(), remaining.dropFirst())
      return object
    }
    return try set(root, keys[...])
  }

  static let topKeys = [
    "name", "mode", "dataset", "split", "scenario", "model", "training", "regularizers",
    "lifecycle", "checkpoint", "paper",
  ]

  init(_ reader: JSONReader) throws {
    let top = try reader.object(allowed: Scenario.topKeys)
    if let name = top["name"] {
      self.name = try name.string()
      guard !self.name.isEmpty, self.name != ".", self.name != "..",
        !self.name.contains("/"), !self.name.contains("\0")
      else {
        throw name.error(
          "'\(self.name)' cannot name the checkpoint directory checkpoints/<name>: give a "
            + "non-empty name other than '.' and '..', without '/'")
      }
    }
    if let mode = top["mode"] { self.mode = try mode.choice(["continual", "paper"]) }
    if let dataset = top["dataset"] { try readDataset(dataset) }
    if let split = top["split"] { try readSplit(split) }
    if let protocolField = top["scenario"] {
      evaluation = Evaluation(
        rawValue: try protocolField.choice(Evaluation.allCases.map(\.rawValue)))!
    }
    if let model = top["model"] { try readModel(model) }
    if let training = top["training"] { try readTraining(training) }
    if let regularizers = top["regularizers"] { try readRegularizers(regularizers) }
    if let lifecycle = top["lifecycle"] { try readLifecycle(lifecycle) }
    if let checkpoint = top["checkpoint"] {
      let fields = try checkpoint.object(allowed: ["directory", "every_task"])
      if let directory = fields["directory"] {
        self.checkpoint.directory = try directory.string()
        guard !self.checkpoint.directory.isEmpty, !self.checkpoint.directory.contains("\0") else {
          throw directory.error(
            "an empty path is no directory: give one such as \"checkpoints/\(name)\", or leave "
              + "the field out for that default")
        }
      }
      if let every = fields["every_task"] { self.checkpoint.everyTask = try every.bool() }
    } else {
      self.checkpoint.directory = "checkpoints/\(name)"
    }
    if let paper = top["paper"] { try readPaper(paper) }
    if mode == "paper", dataset.evaluateOn == .validation {
      throw (top["dataset"] ?? reader).child("evaluate_on", "validation").error(
        "paper runs report test error: evaluate_on: validation is for continual runs")
    }
    try checkSplit(top["split"] ?? reader)
    if model.gate == "attentive", let dimension = model.attentionDimension,
      dimension != expertHiddenCount
    {
      throw (top["model"] ?? reader).child("attention_dim", dimension).error(
        "the attentive gate compares its query with the experts' hidden vectors: "
          + "attention_dim must equal the expert's hidden size \(expertHiddenCount)")
    }
    try checkMemory(
      limit: Double(ProcessInfo.processInfo.physicalMemory),
      at: top["model"] ?? reader.child("model", [String: Any]()))
  }

  /// d for the scenario's expert kind.
  public var expertHiddenCount: Int {
    PaperArchitecture(rawValue: model.expert)?.hiddenCount ?? model.hidden.last ?? 0
  }

  /// One sample's shape, [C, H, W], for the scenario's dataset.
  public var sampleShape: [Int] {
    dataset.name == "cifar100" ? [3, 32, 32] : [1, 28, 28]
  }

  /// The size of h_g, the gate trunk's output.
  public var gateHiddenCount: Int {
    PaperArchitecture(rawValue: model.expert)?.hiddenCount ?? model.gateTrunkWidths.last ?? 0
  }

  private mutating func readDataset(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "name", "labels", "train_samples_per_class", "test_samples_per_class",
      "validation_fraction", "evaluate_on", "augment",
    ])
    if let name = fields["name"] {
      dataset.name = try name.choice(DatasetRegistry.all.map(\.name))
    }
    if let labels = fields["labels"] {
      dataset.labels = CIFARLabels(rawValue: try labels.choice(["fine", "coarse"]))!
      guard dataset.labels == .fine || dataset.name == "cifar100" else {
        throw labels.error("only cifar100 has coarse labels")
      }
    }
    if let cap = fields["train_samples_per_class"], !cap.isNull {
      dataset.trainSamplesPerClass = try cap.integer(in: 2...1_000_000)
    }
    if let cap = fields["test_samples_per_class"], !cap.isNull {
      dataset.testSamplesPerClass = try cap.integer(in: 1...1_000_000)
    }
    if let fraction = fields["validation_fraction"] {
      dataset.validationFraction = try fraction.number(in: 0...0.9)
    }
    if let augment = fields["augment"] { dataset.augment = try augment.bool() }
    if let split = fields["evaluate_on"] {
      dataset.evaluateOn = EvaluationSplit(
        rawValue: try split.choice(EvaluationSplit.allCases.map(\.rawValue)))!
      guard dataset.evaluateOn == .test || dataset.validationFraction > 0 else {
        throw split.error("evaluating on validation samples needs dataset.validation_fraction > 0")
      }
    }
  }

  private mutating func readSplit(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "groups", "tasks", "classes_per_task", "order", "seed",
    ])
    if let groups = fields["groups"] {
      if let extra = ["tasks", "classes_per_task", "order", "seed"].first(where: {
        fields[$0] != nil
      }) {
        throw fields[extra]!.error("give either split.groups or split.tasks, not both")
      }
      // Class ids are checked against the dataset's classes in checkSplit.
      split = .groups(
        try groups.array().map { try $0.array().map { try $0.integer(in: Int.min...Int.max) } })
      return
    }
    var tasks = 5
    var perTask = 2
    var permuted = false
    var seed = 0
    if let field = fields["tasks"] { tasks = try field.integer(in: 1...1000) }
    if let field = fields["classes_per_task"] { perTask = try field.integer(in: 1...1000) }
    if let field = fields["order"] {
      permuted = try field.choice(["natural", "permuted"]) == "permuted"
    }
    if let field = fields["seed"] { seed = try field.integer(in: 0...Int(Int32.max)) }
    split = .even(tasks: tasks, classesPerTask: perTask, permuted: permuted, seed: seed)
  }

  /// Checks the split against the dataset's classes.
  private func checkSplit(_ reader: JSONReader) throws {
    let classes = classCount
    switch split {
    case .groups(let groups):
      let groupsReader = reader.child("groups", groups)
      guard !groups.isEmpty else { throw groupsReader.error("needs at least one task") }
      var owner: [Int: Int] = [:]
      for (task, group) in groups.enumerated() {
        let taskPath = "\(groupsReader.path)[\(task)]"
        guard !group.isEmpty else {
          throw ScenarioError(
            file: reader.file, path: taskPath, message: "task \(task) has no classes")
        }
        for (position, label) in group.enumerated() {
          let path = "\(taskPath)[\(position)]"
          guard (0..<classes).contains(label) else {
            throw ScenarioError(
              file: reader.file, path: path,
              message: "class \(label) is out of range 0..<\(classes) of \(dataset.name)")
          }
          if let earlier = owner[label] {
            throw ScenarioError(
              file: reader.file, path: path,
              message: "class \(label) is already in task \(earlier); a class belongs to one task")
          }
          owner[label] = task
        }
      }
    case .even(let tasks, let perTask, _, _):
      guard tasks * perTask <= classes else {
        throw reader.error(
          "\(tasks) tasks × \(perTask) classes need \(tasks * perTask) classes; \(dataset.name) "
            + "has \(classes)")
      }
    }
  }

  private mutating func readModel(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "expert", "experts", "gate", "attention_dim", "hidden", "channels", "gate_hidden",
    ])
    if let expert = fields["expert"] {
      model.expert = try expert.choice(
        PaperArchitecture.allCases.map(\.rawValue) + ["mlp", "conv"])
    }
    if let channels = fields["channels"] {
      guard model.expert == "conv" else {
        throw channels.error("only conv experts have channels")
      }
      model.channels = try channels.integer(in: 1...1024)
    }
    if let experts = fields["experts"] { model.experts = try experts.integer(in: 1...1024) }
    if let gate = fields["gate"] { model.gate = try gate.choice(["softmax", "attentive"]) }
    if let dimension = fields["attention_dim"], !dimension.isNull {
      model.attentionDimension = try dimension.integer(in: 1...65_536)
    }
    if let hidden = fields["hidden"] {
      model.hidden = try hidden.array().map { try $0.integer(in: 1...65_536) }
      guard !model.hidden.isEmpty else { throw hidden.error("needs at least one width") }
    }
    if let gateHidden = fields["gate_hidden"], !gateHidden.isNull {
      guard PaperArchitecture(rawValue: model.expert) == nil else {
        throw gateHidden.error("a paper architecture has its own gate trunk")
      }
      let widths = try gateHidden.array().map { try $0.integer(in: 1...65_536) }
      guard !widths.isEmpty else { throw gateHidden.error("needs at least one width") }
      guard model.gate != "attentive" || widths.last == model.hidden.last else {
        throw gateHidden.error(
          "the attentive gate's query is the trunk's output: its last width must be the "
            + "experts' d, model.hidden's last (\(model.hidden.last!))")
      }
      model.gateHidden = widths
    }
    if let architecture = PaperArchitecture(rawValue: model.expert) {
      let wanted = architecture == .cifar100 ? "cifar100" : nil
      if let wanted, dataset.name != wanted {
        throw (fields["expert"] ?? reader).error(
          "\(model.expert) takes 3×32×32 images; the dataset \(dataset.name) has 1×28×28")
      }
      if wanted == nil, dataset.name == "cifar100" {
        throw (fields["expert"] ?? reader).error(
          "\(model.expert) takes 1×28×28 images; cifar100 has 3×32×32")
      }
    }
  }

  private mutating func readTraining(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: ["epochs", "batch_size", "optimizer", "seed", "loss"])
    if let epochs = fields["epochs"] { training.epochs = try epochs.integer(in: 0...10_000) }
    if let batch = fields["batch_size"] { training.batchSize = try batch.integer(in: 2...65_536) }
    if let seed = fields["seed"] { training.seed = try seed.integer(in: 0...Int(Int32.max)) }
    if let loss = fields["loss"] {
      training.loss = MixtureLoss(rawValue: try loss.choice(MixtureLoss.allCases.map(\.rawValue)))!
    }
    if let optimizer = fields["optimizer"] {
      let parts = try optimizer.object(allowed: [
        "name", "learning_rate", "momentum", "weight_decay",
      ])
      if let name = parts["name"] { training.optimizer.name = try name.choice(["adam", "sgd"]) }
      if let rate = parts["learning_rate"] {
        training.optimizer.learningRate = try rate.number(in: 1e-12...10)
      }
      if let momentum = parts["momentum"] {
        training.optimizer.momentum = try momentum.number(in: 0...0.9999)
        guard training.optimizer.name == "sgd" || training.optimizer.momentum == 0 else {
          throw momentum.error("only sgd has momentum")
        }
      }
      if let decay = parts["weight_decay"] {
        training.optimizer.weightDecay = try decay.number(in: 0...1)
      }
    }
  }

  private mutating func readRegularizers(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: ["sample_similarity", "importance"])
    if let similarity = fields["sample_similarity"], !similarity.isNull {
      let parts = try similarity.object(allowed: ["beta_same", "beta_different", "placement"])
      var regularizer = SampleSimilarityRegularizer(betaSame: 0, betaDifferent: 0)
      if let beta = parts["beta_same"] {
        regularizer.betaSame = Float(try beta.number(in: 0...1e6))
      }
      if let beta = parts["beta_different"] {
        regularizer.betaDifferent = Float(try beta.number(in: 0...1e6))
      }
      if let placement = parts["placement"] {
        regularizer.placement = SampleSimilarityPlacement(
          rawValue: try placement.choice(SampleSimilarityPlacement.allCases.map(\.rawValue)))!
      }
      regularizers.sampleSimilarity = regularizer
    }
    if let importance = fields["importance"], !importance.isNull {
      let parts = try importance.object(allowed: ["weight"])
      let weight = try parts["weight"].map { try $0.number(in: 0...1e6) } ?? 0.2
      regularizers.importance = ImportanceRegularizer(weight: Float(weight))
    }
  }

  private mutating func readLifecycle(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "policy", "experts_per_task", "reuse_threshold", "gate", "replay_samples", "ewc_lambda",
      "gate_epochs",
    ])
    if let policy = fields["policy"] {
      lifecycle.policy = try policy.choice(LifecycleSettings.policies)
    }
    if let lambda = fields["ewc_lambda"] { lifecycle.ewcLambda = try lambda.number(in: 0...1e9) }
    if let count = fields["experts_per_task"] {
      lifecycle.expertsPerTask = try count.integer(in: 1...64)
    }
    if let threshold = fields["reuse_threshold"] {
      lifecycle.reuseThreshold = try threshold.number(in: 0...1)
    }
    if let gate = fields["gate"] {
      lifecycle.gate = try gate.choice(["trainable", "rows-frozen", "replay"])
    }
    if let samples = fields["replay_samples"] {
      lifecycle.replaySamples = try samples.integer(in: 0...1_000_000)
    }
    if let epochs = fields["gate_epochs"] {
      lifecycle.gateEpochs = try epochs.integer(in: 0...10_000)
    }
  }

  private mutating func readPaper(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "methods", "seeds", "distillation_epochs", "distill_from", "single_weight_decay",
    ])
    let names = PaperMethod.allCases.map(\.rawValue)
    if let methods = fields["methods"] {
      let items = try methods.array()
      guard !items.isEmpty else {
        throw methods.error("needs at least one method; one of \(names.joined(separator: ", "))")
      }
      paper.methods = []
      for item in items {
        let method = PaperMethod(rawValue: try item.choice(names))!
        guard !paper.methods.contains(method) else {
          throw item.error("'\(method.rawValue)' is listed twice")
        }
        paper.methods.append(method)
      }
    }
    if let seeds = fields["seeds"] { paper.seeds = try seeds.integer(in: 1...1000) }
    if let epochs = fields["distillation_epochs"] {
      paper.distillationEpochs = try epochs.integer(in: 0...10_000)
    }
    if let from = fields["distill_from"] {
      let method = PaperMethod(rawValue: try from.choice(names))!
      guard method.usesAttentiveGate, method != .distilled else {
        throw from.error("distillation starts from an attentive method")
      }
      paper.distillFrom = method
    }
    if let decay = fields["single_weight_decay"] {
      paper.singleWeightDecay = try decay.number(in: 0...1)
    }
  }
}
