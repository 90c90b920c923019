import MoE

// The names a scenario file chooses from, as types: after parsing, no configuration name
// is compared as a string.

extension Scenario {
  /// What a scenario runs.
  public enum Mode: String, Sendable, CaseIterable {
    /// A task stream under a lifecycle policy.
    case continual
    /// One task: the paper's method comparison.
    case paper
  }

  /// How the gate scores the experts.
  public enum GateKind: String, Sendable, CaseIterable {
    /// A linear layer and a softmax over h_g.
    case softmax
    /// The paper's attentive gate: the query h_g against the experts' hidden vectors.
    case attentive
  }

  /// How the gate is trained across tasks.
  public enum GateTraining: String, Sendable, CaseIterable {
    /// Every gate parameter trains on every task.
    case trainable
    /// The rows of frozen experts are frozen too (softmax gate).
    case rowsFrozen = "rows-frozen"
    /// Trained on a seeded reservoir of earlier samples mixed into each batch.
    case replay
    /// No stored samples: each expert trains alone on its task, then keeps an evidence score
    /// of its classes fitted on that task's samples (`lifecycle.evidence_kind`), and a sample
    /// goes to the expert with the best calibrated score (`EvidenceGate`).
    case evidence
    /// `evidence` plus the model's gate trained as `replay` trains it: evaluation routes by
    /// log g_e(x) + S_e(x)/τ (`lifecycle.evidence_temperature`).
    case hybrid

    /// Whether the gate is an `EvidenceGate` (`evidence` or `hybrid`).
    public var usesEvidence: Bool { self == .evidence || self == .hybrid }
  }

  /// How many classes each spawned expert owns.
  public enum ExpertGranularity: String, Sendable, CaseIterable {
    /// Every expert spawned for a task owns the task's classes.
    case task
    /// One expert per class of the task, owning that class alone (PEC's granularity): the
    /// class is then the routing decision.
    case `class`
  }

  /// The optimiser's algorithm.
  public enum OptimizerKind: String, Sendable, CaseIterable {
    /// Adam (Kingma & Ba).
    case adam
    /// Stochastic gradient descent, with optional momentum.
    case sgd
  }
}

/// The name of an expert kind, as `model.expert` writes it.
///
/// The built-in kinds are the paper's architectures, `mlp` and `conv`; a program adds its
/// own with ``register(_:make:)``.
public struct ExpertKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  /// The name in scenario files.
  public let rawValue: String

  /// The kind named `rawValue`.
  public init(rawValue: String) { self.rawValue = rawValue }

  /// The kind of the paper's `architecture`.
  public init(_ architecture: PaperArchitecture) { rawValue = architecture.rawValue }

  /// A multilayer perceptron over the flattened sample (`model.hidden`).
  public static let mlp = ExpertKind(rawValue: "mlp")
  /// A 3×3 convolution and max-pool, then a perceptron (`model.channels`, `model.hidden`).
  public static let conv = ExpertKind(rawValue: "conv")
  /// The built-in kinds, in the order `tasks/README.md` lists them.
  public static let builtIn = PaperArchitecture.allCases.map(ExpertKind.init) + [.mlp, .conv]

  /// Every kind a scenario may name: the built-in kinds, then the registered ones (see
  /// ``register(_:make:)``).
  public static var known: [ExpertKind] { builtIn + registered }

  /// The paper architecture of this kind, if it is one.
  public var paperArchitecture: PaperArchitecture? { PaperArchitecture(rawValue: rawValue) }

  public var description: String { rawValue }
}

/// The name of a lifecycle policy, as `lifecycle.policy` and `--policy` write it.
///
/// The built-in names are the three MoE lifecycles and the four single-network baselines;
/// a program adds its own ``LifecyclePolicy`` with ``register(_:)``.
public struct PolicyName: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  /// The name in scenario files.
  public let rawValue: String

  /// The policy named `rawValue`.
  public init(rawValue: String) { self.rawValue = rawValue }

  /// Every expert trainable on every task.
  public static let shared = PolicyName(rawValue: "shared")
  /// New experts per task; earlier ones frozen.
  public static let spawnAndFreeze = PolicyName(rawValue: "spawn-and-freeze")
  /// A frozen expert good enough on the new task is reused, else new ones are spawned.
  public static let reuseOrSpawn = PolicyName(rawValue: "reuse-or-spawn")
  /// One network, trained on each task in turn.
  public static let fineTune = PolicyName(rawValue: "fine-tune")
  /// One network with online EWC's penalty.
  public static let ewc = PolicyName(rawValue: "ewc")
  /// One network with experience replay.
  public static let replay = PolicyName(rawValue: "replay")
  /// One network trained on every task seen so far.
  public static let joint = PolicyName(rawValue: "joint")

  /// The built-in policies: the MoE lifecycles, then the single-network baselines.
  public static let builtIn: [PolicyName] = [
    .shared, .spawnAndFreeze, .reuseOrSpawn, .fineTune, .ewc, .replay, .joint,
  ]
  /// Every policy a scenario may name: the built-in ones, then the registered ones (see
  /// ``register(_:)``).
  public static var known: [PolicyName] { builtIn + registered }

  /// The single-network policies (one expert, no gate): the built-in baselines and any
  /// registered policy that is a single network.
  public static var baselines: Set<PolicyName> {
    Set(known.filter { $0.lifecyclePolicy?.isSingleNetwork == true })
  }

  public var description: String { rawValue }
}

/// A configuration value that is one of a fixed set of names: printed as written in scenario
/// files (`rows-frozen`, not the case name) and decoded from its name.
public protocol ConfigurationChoice: RawRepresentable, CaseIterable, Decodable,
  CustomStringConvertible
where RawValue == String {}

extension ConfigurationChoice {
  public var description: String { rawValue }
}
