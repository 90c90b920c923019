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
    /// The registry's description of the dataset.
    public var descriptor: DatasetDescriptor {
      // Parsing accepts only registered names.
      DatasetRegistry.all.first { $0.name == name } ?? DatasetRegistry.fashionMNIST
    }
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
    /// A paper architecture, `mlp` or `conv`.
    public var expert = ExpertKind(.fashionMNIST)
    /// Experts at the start.
    public var experts = 5
    /// How the gate scores the experts.
    public var gate = GateKind.attentive
    /// d, the experts' hidden size and the attentive gate's dimension (`attention_dim`),
    /// when the file states it; `nil` for the one the architecture or widths imply.
    public var hiddenCount: Int?
    /// Hidden widths of `mlp` experts (after the convolution block of `conv` experts) and
    /// of their gate trunk (`hidden`); the last is d.
    public var hiddenWidths = [400, 400]
    /// Filters of a `conv` expert's 3×3 convolution.
    public var channels = 8
    /// Hidden widths of the gate trunk of `mlp` and `conv` experts (`gate_hidden`), when
    /// not ``hiddenWidths``.
    public var gateHiddenWidths: [Int]?

    /// The widths of the gate trunk of `mlp` and `conv` experts.
    public var gateTrunkWidths: [Int] { gateHiddenWidths ?? hiddenWidths }
  }

  /// The optimiser.
  public struct OptimizerSettings: Sendable, Equatable {
    /// The algorithm.
    public var name = OptimizerKind.adam
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
    /// L_s, the sample-similarity regularizer on the gate (`regularizers.sample_similarity`).
    public var sampleSimilarity: SampleSimilarityRegularizer?
    /// L_imp, the importance regularizer on expert usage (`regularizers.importance`).
    public var importance: ImportanceRegularizer?
  }

  /// What happens to experts and gate between tasks.
  public struct LifecycleSettings: Sendable, Equatable {
    /// The policy (or baseline) by name.
    public var policy = PolicyName.shared
    /// Experts spawned per task by the spawning policies.
    public var expertsPerTask = 1
    /// reuse-or-spawn: reuse frozen experts whose validation accuracy on the new task's
    /// classes (with the gate restricted to them) reaches this fraction.
    public var reuseThreshold = 0.9
    /// How the gate is trained across tasks.
    public var gate = GateTraining.trainable
    /// Samples kept for gate replay (and for the `replay` baseline).
    public var replaySamples = 200
    /// λ of the `ewc` baseline's penalty.
    public var ewcLambda = 100.0
    /// Whether a spawned expert owns its task's classes or one class (spawn-and-freeze).
    public var expertGranularity = ExpertGranularity.task
    /// The evidence gate's score (gates `evidence` and `hybrid`).
    public var evidenceKind = EvidenceKind.subspace
    /// How the evidence gate makes its experts' scores comparable.
    public var evidenceCalibration = EvidenceCalibration.raw
    /// Principal directions the evidence gate keeps per class (subspace kinds).
    public var evidenceRank = 32
    /// τ of the hybrid gate's score log g_e + S_e/τ (gate `hybrid` only).
    public var evidenceTemperature = 1.0
    /// Epochs of training the gate alone on the replay buffer after each task (gates
    /// `replay` and `hybrid`): the buffer holds every task seen in proportion, so this corrects the
    /// gate's bias towards the task just trained.
    public var gateEpochs = 0
  }

  /// Where checkpoints go.
  public struct CheckpointSettings: Sendable, Equatable {
    /// The directory (relative paths are relative to the working directory).
    public var directory = "checkpoints"
    /// Whether every task writes `task_NNN.h5` (else only `latest.h5`).
    public var everyTask = true
    /// Where the command line's `run` writes TensorBoard event files (`log_dir`), one
    /// directory per policy and seed; `nil` for none. `--log-dir` overrides it.
    public var logDirectory: String? = nil
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
  /// A task stream, or the paper's method comparison.
  public var mode = Mode.continual
  /// The data.
  public var dataset = DataSettings()
  /// The class split.
  public var split = Split.even(tasks: 5, classesPerTask: 2, permuted: false, seed: 0)
  /// The evaluation protocol.
  public var evaluation = Evaluation.both
  /// The mixture.
  public var model = ModelSettings()
  /// Epochs, batches, optimiser, seed and loss (`training`).
  public var training = TrainingSettings()
  /// L_s and L_imp (`regularizers`).
  public var regularizers = RegularizerSettings()
  /// The policy and the gate's training between tasks (`lifecycle`).
  public var lifecycle = LifecycleSettings()
  /// Where and how often checkpoints are written (`checkpoint`).
  public var checkpoint = CheckpointSettings()
  /// The paper comparison.
  public var paper = PaperSettings()

  /// The number of classes of the dataset (CIFAR-100 coarse: 20).
  public var classCount: Int {
    dataset.labels == .coarse ? CIFARLabels.coarse.classCount : dataset.descriptor.classCount
  }
}

// MARK: - Loading

extension Scenario {
  /// A scenario file's JSON, parsed once: scenarios with different overrides are decoded
  /// from it without reading the file again.
  ///
  /// A sweep file (one with `axes` or `variants`) is rejected when the document is read.
  public struct Document {
    /// The file (for errors).
    public let file: String
    /// The parsed JSON value.
    private let root: Any

    /// Reads and parses the scenario file at `path`.
    ///
    /// - Throws: ``ScenarioError``: the system's reason for a file that cannot be read
    ///   (`cannot read: permission denied`, `is a directory, not a file`); the line and
    ///   column of text that is not JSON; a sweep file.
    public init(contentsOf path: String) throws {
      try self.init(Data(JSONFile.contents(path)), file: path)
    }

    /// Parses scenario JSON.
    ///
    /// - Throws: ``ScenarioError`` with the line and column for text that is not JSON (a
    ///   syntax error, a key given twice in an object, a number too large for an Int or a
    ///   Double); for a sweep file, the command that runs it.
    public init(_ data: Data, file: String) throws {
      let root: Any
      do {
        root = try JSONParser.parse(data)
      } catch {
        throw error.scenarioError(file: file)
      }
      if let object = root as? [String: Any], object["axes"] != nil || object["variants"] != nil {
        throw ScenarioError(
          file: file, path: object["axes"] != nil ? "axes" : "variants",
          message: "this is a sweep file, not a scenario: run it with `expertstream sweep \(file)`"
        )
      }
      self.file = file
      self.root = root
    }

    /// The scenario the document describes once `overrides` are applied.
    ///
    /// - Parameter overrides: `key.path=value` strings applied in order to the JSON before
    ///   decoding (`training.epochs=2`); the value is parsed as JSON when it parses, else
    ///   taken as a string.
    /// - Throws: ``ScenarioError`` of file `--set` for a malformed override; of ``file``,
    ///   naming the field's path, for a value that is not allowed.
    public func scenario(overrides: [String] = []) throws -> Scenario {
      var root = self.root
      for override in overrides { root = try Scenario.apply(override, to: root) }
      return try ScenarioDecoder.decode(Scenario.self, from: root, file: file)
    }
  }

  /// Reads, overrides and validates the scenario file at `path`.
  ///
  /// - Parameter overrides: `key.path=value` strings applied to the JSON before validation
  ///   (`training.epochs=2`); the value is parsed as JSON when it parses, else taken as a
  ///   string.
  /// - Throws: ``ScenarioError`` naming the file and JSON path; for a file that cannot be
  ///   read, the system's reason (`cannot read: permission denied`, `is a directory, not a
  ///   file`).
  public static func load(_ path: String, overrides: [String] = []) throws -> Scenario {
    try Document(contentsOf: path).scenario(overrides: overrides)
  }

  /// Parses and validates scenario JSON.
  ///
  /// - Throws: ``ScenarioError``: with the line and column for text that is not JSON (a
  ///   syntax error, a key given twice in an object, a number too large for an Int or a
  ///   Double); with the field's path for a value that is not allowed.
  public static func parse(_ data: Data, file: String, overrides: [String] = []) throws -> Scenario
  {
    try Document(data, file: file).scenario(overrides: overrides)
  }

  /// Applies one `key.path=value` override to a JSON tree.
  static func apply(_ override: String, to root: Any) throws -> Any {
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

  /// d, the experts' hidden size and the attentive gate's dimension, for the scenario's
  /// expert kind.
  public var hiddenCount: Int {
    model.expert.paperArchitecture?.hiddenCount ?? model.hiddenWidths.last ?? 0
  }

  /// One sample's shape, [C, H, W], for the scenario's dataset.
  public var sampleShape: [Int] {
    dataset.descriptor.sampleShape
  }

  /// The size of h_g, the gate trunk's output.
  public var gateHiddenCount: Int {
    model.expert.paperArchitecture?.hiddenCount ?? model.gateTrunkWidths.last ?? 0
  }
}
