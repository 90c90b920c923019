import Datasets
import Foundation
import TensorCore

extension Scenario {
  /// The class groups of the tasks, in task order: explicit groups as written, or the
  /// classes 0..<K (seeded-permuted when asked) cut into equal tasks.
  public var classGroups: [[Int]] {
    switch split {
    case .groups(let groups):
      return groups
    case .even(let tasks, let perTask, let permuted, let seed):
      var order = Array(0..<classCount)
      if permuted {
        var generator = RandomGenerator(seed: UInt64(seed))
        order.shuffle(using: &generator)
      }
      return (0..<tasks).map { Array(order[($0 * perTask)..<(($0 + 1) * perTask)]) }
    }
  }

  /// The resolved scenario as a JSON object: every field with its value (defaults filled,
  /// the split resolved to explicit class groups).
  public var resolvedObject: [String: Any] {
    var lifecycleObject: [String: Any] = [
      "policy": lifecycle.policy.rawValue, "experts_per_task": lifecycle.expertsPerTask,
      "reuse_threshold": lifecycle.reuseThreshold, "gate": lifecycle.gate.rawValue,
      "replay_samples": lifecycle.replaySamples, "ewc_lambda": lifecycle.ewcLambda,
    ]
    // Fields present only when set, so scenarios written before them keep their hash (and
    // their checkpoints and sweep run ids stay valid).
    if lifecycle.gate.usesEvidence {
      lifecycleObject["evidence_kind"] = lifecycle.evidenceKind.rawValue
      lifecycleObject["evidence_calibration"] = lifecycle.evidenceCalibration.rawValue
      lifecycleObject["evidence_rank"] = lifecycle.evidenceRank
    }
    if lifecycle.gate == .hybrid {
      lifecycleObject["evidence_temperature"] = lifecycle.evidenceTemperature
    }
    if lifecycle.expertGranularity != .task {
      lifecycleObject["expert_granularity"] = lifecycle.expertGranularity.rawValue
    }
    if lifecycle.gateEpochs > 0 { lifecycleObject["gate_epochs"] = lifecycle.gateEpochs }
    var datasetObject: [String: Any] = [
      "name": dataset.name, "labels": dataset.labels.rawValue,
      "train_samples_per_class": dataset.trainSamplesPerClass.map { $0 as Any } ?? NSNull(),
      "test_samples_per_class": dataset.testSamplesPerClass.map { $0 as Any } ?? NSNull(),
      "validation_fraction": dataset.validationFraction, "augment": dataset.augment,
    ]
    if dataset.evaluateOn != .test { datasetObject["evaluate_on"] = dataset.evaluateOn.rawValue }
    var modelObject: [String: Any] = [
      "expert": model.expert.rawValue, "experts": model.experts, "gate": model.gate.rawValue,
      "attention_dim": hiddenCount, "hidden": model.hiddenWidths,
    ]
    if model.expert == .conv { modelObject["channels"] = model.channels }
    if let gateHiddenWidths = model.gateHiddenWidths {
      modelObject["gate_hidden"] = gateHiddenWidths
    }
    var checkpointObject: [String: Any] = [
      "directory": checkpoint.directory, "every_task": checkpoint.everyTask,
    ]
    if let logDirectory = checkpoint.logDirectory { checkpointObject["log_dir"] = logDirectory }
    var object: [String: Any] = [
      "name": name,
      "mode": mode.rawValue,
      "dataset": datasetObject,
      "split": ["groups": classGroups],
      "scenario": evaluation.rawValue,
      "model": modelObject,
      "training": [
        "epochs": training.epochs, "batch_size": training.batchSize, "seed": training.seed,
        "loss": training.loss.rawValue,
        "optimizer": [
          "name": training.optimizer.name.rawValue,
          "learning_rate": training.optimizer.learningRate,
          "momentum": training.optimizer.momentum,
          "weight_decay": training.optimizer.weightDecay,
        ] as [String: Any],
      ] as [String: Any],
      "lifecycle": lifecycleObject,
      "checkpoint": checkpointObject,
    ]
    var regularizerObject: [String: Any] = [
      "sample_similarity": NSNull(), "importance": NSNull(),
    ]
    if let similarity = regularizers.sampleSimilarity {
      regularizerObject["sample_similarity"] =
        [
          "beta_same": Double(similarity.betaSame),
          "beta_different": Double(similarity.betaDifferent),
          "placement": similarity.placement.rawValue,
        ] as [String: Any]
    }
    if let importance = regularizers.importance {
      regularizerObject["importance"] = ["weight": Double(importance.weight)]
    }
    object["regularizers"] = regularizerObject
    if mode == .paper {
      object["paper"] =
        [
          "methods": paper.methods.map(\.rawValue), "seeds": paper.seeds,
          "distillation_epochs": paper.distillationEpochs,
          "distill_from": paper.distillFrom.rawValue,
          "single_weight_decay": paper.singleWeightDecay,
        ] as [String: Any]
    }
    return object
  }

  /// The resolved scenario as indented JSON with sorted keys, for people.
  public var resolvedText: String {
    // The object holds only JSON types, so serialisation cannot fail.
    let data = try? JSONSerialization.data(
      withJSONObject: resolvedObject,
      options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data ?? Data(), as: UTF8.self)
  }

  /// One line per task, `  task 0: 0 T-shirt/top, 1 Trouser`: its classes in the order run,
  /// named by `classNames` (the dataset's fine class names; coarse labels go unnamed).
  public func taskLines(classNames: [String]) -> [String] {
    classGroups.enumerated().map { index, classes in
      "  task \(index): "
        + classes.map { dataset.labels == .coarse ? "\($0)" : "\($0) \(classNames[$0])" }
        .joined(separator: ", ")
    }
  }

  /// The resolved scenario as canonical JSON: sorted keys, no whitespace.
  public var canonicalJSON: Data {
    // The object holds only JSON types, so serialisation cannot fail.
    (try? JSONSerialization.data(withJSONObject: resolvedObject, options: [.sortedKeys])) ?? Data()
  }

  /// ``resolvedObject`` without the `checkpoint` settings (where files go does not change
  /// a run): what ``hash`` covers.
  public var runObject: [String: Any] {
    var object = resolvedObject
    object["checkpoint"] = nil
    return object
  }

  /// SHA-256 of ``runObject`` as canonical JSON: two results with the same hash ran the
  /// same stream and model.
  public var hash: String {
    let data =
      (try? JSONSerialization.data(withJSONObject: runObject, options: [.sortedKeys])) ?? Data()
    return SHA256.hexDigest([UInt8](data))
  }
}
