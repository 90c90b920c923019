import Datasets
import Foundation
import MoE

// Reading and checking each section of a scenario file.
extension Scenario {
  mutating func readDataset(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "name", "labels", "train_samples_per_class", "test_samples_per_class",
      "validation_fraction", "evaluate_on", "augment",
    ])
    if let name = fields["name"] {
      dataset.name = try name.choice(DatasetRegistry.all.map(\.name))
    }
    if let labels = fields["labels"] {
      dataset.labels = CIFARLabels(rawValue: try labels.choice(["fine", "coarse"]))!
      guard dataset.labels == .fine || dataset.descriptor.name == DatasetRegistry.cifar100.name
      else {
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

  mutating func readSplit(_ reader: JSONReader) throws {
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
  func checkSplit(_ reader: JSONReader) throws {
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

  mutating func readModel(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "expert", "experts", "gate", "attention_dim", "hidden", "channels", "gate_hidden",
    ])
    if let expert = fields["expert"] {
      model.expert = ExpertKind(rawValue: try expert.choice(ExpertKind.known.map(\.rawValue)))
    }
    if let channels = fields["channels"] {
      guard model.expert == .conv else {
        throw channels.error("only conv experts have channels")
      }
      model.channels = try channels.integer(in: 1...1024)
    }
    if let experts = fields["experts"] { model.experts = try experts.integer(in: 1...1024) }
    if let gate = fields["gate"] { model.gate = try gate.choice(GateKind.self) }
    if let dimension = fields["attention_dim"], !dimension.isNull {
      model.attentionDimension = try dimension.integer(in: 1...65_536)
    }
    if let hidden = fields["hidden"] {
      model.hidden = try hidden.array().map { try $0.integer(in: 1...65_536) }
      guard !model.hidden.isEmpty else { throw hidden.error("needs at least one width") }
    }
    if let gateHidden = fields["gate_hidden"], !gateHidden.isNull {
      guard model.expert.paperArchitecture == nil else {
        throw gateHidden.error("a paper architecture has its own gate trunk")
      }
      let widths = try gateHidden.array().map { try $0.integer(in: 1...65_536) }
      guard !widths.isEmpty else { throw gateHidden.error("needs at least one width") }
      guard model.gate != .attentive || widths.last == model.hidden.last else {
        throw gateHidden.error(
          "the attentive gate's query is the trunk's output: its last width must be the "
            + "experts' d, model.hidden's last (\(model.hidden.last!))")
      }
      model.gateHidden = widths
    }
    if let architecture = model.expert.paperArchitecture,
      architecture.inputShape != dataset.descriptor.sampleShape
    {
      func shape(_ dimensions: [Int]) -> String {
        dimensions.map(String.init).joined(separator: "×")
      }
      throw (fields["expert"] ?? reader).error(
        "\(model.expert) takes \(shape(architecture.inputShape)) images; the dataset "
          + "\(dataset.name) has \(shape(dataset.descriptor.sampleShape))")
    }
  }

  mutating func readTraining(_ reader: JSONReader) throws {
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
      if let name = parts["name"] { training.optimizer.name = try name.choice(OptimizerKind.self) }
      if let rate = parts["learning_rate"] {
        training.optimizer.learningRate = try rate.number(in: 1e-12...10)
      }
      if let momentum = parts["momentum"] {
        training.optimizer.momentum = try momentum.number(in: 0...0.9999)
        guard training.optimizer.name == .sgd || training.optimizer.momentum == 0 else {
          throw momentum.error("only sgd has momentum")
        }
      }
      if let decay = parts["weight_decay"] {
        training.optimizer.weightDecay = try decay.number(in: 0...1)
      }
    }
  }

  mutating func readRegularizers(_ reader: JSONReader) throws {
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

  mutating func readLifecycle(_ reader: JSONReader) throws {
    let fields = try reader.object(allowed: [
      "policy", "experts_per_task", "reuse_threshold", "gate", "replay_samples", "ewc_lambda",
      "gate_epochs",
    ])
    if let policy = fields["policy"] {
      lifecycle.policy = PolicyName(rawValue: try policy.choice(PolicyName.known.map(\.rawValue)))
    }
    if let lambda = fields["ewc_lambda"] { lifecycle.ewcLambda = try lambda.number(in: 0...1e9) }
    if let count = fields["experts_per_task"] {
      lifecycle.expertsPerTask = try count.integer(in: 1...64)
    }
    if let threshold = fields["reuse_threshold"] {
      lifecycle.reuseThreshold = try threshold.number(in: 0...1)
    }
    if let gate = fields["gate"] {
      lifecycle.gate = try gate.choice(GateTraining.self)
    }
    if let samples = fields["replay_samples"] {
      lifecycle.replaySamples = try samples.integer(in: 0...1_000_000)
    }
    if let epochs = fields["gate_epochs"] {
      lifecycle.gateEpochs = try epochs.integer(in: 0...10_000)
    }
  }

  mutating func readPaper(_ reader: JSONReader) throws {
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
