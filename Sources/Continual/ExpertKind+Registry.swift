import MoE
import Synchronization
import TensorCore

extension ExpertKind {
  /// Makes a new expert of a kind for a run, from the context the run gives and its seeded
  /// generator (the run's own, so the expert's initial weights are reproducible).
  public typealias Factory = @Sendable (ExpertContext, inout RandomGenerator) throws -> any Expert

  /// The kinds a program registered, in order of first registration.
  private static let registry = Mutex<[(kind: ExpertKind, make: Factory)]>([])

  /// Makes `kind` a name scenario files may give as `model.expert`: a run of such a scenario
  /// builds every expert (initial, spawned and restored from a checkpoint) with `make`, and
  /// checkpoints record the name as the experts' `kind`.
  ///
  /// Registration is process-wide and safe from any thread. Registering a kind again
  /// replaces its factory (it keeps its place in ``known``).
  ///
  /// - Throws: ``RegistrationError`` for a built-in kind's name, an empty name, or one with
  ///   a comma or white space.
  public static func register(_ kind: ExpertKind, make: @escaping Factory) throws {
    guard !builtIn.contains(kind) else {
      throw RegistrationError(name: kind.rawValue, reason: "is a built-in expert kind")
    }
    try RegistrationError.checkSpelling(of: kind.rawValue)
    registry.withLock { entries in
      if let index = entries.firstIndex(where: { $0.kind == kind }) {
        entries[index].make = make
      } else {
        entries.append((kind, make))
      }
    }
  }

  /// The kinds registered so far, in order of first registration.
  public static var registered: [ExpertKind] { registry.withLock { $0.map(\.kind) } }

  /// The factory of this kind: the built-in one (reading `model.hidden` and
  /// `model.channels` from the context's scenario) or the registered one; `nil` for an
  /// unknown name.
  public var factory: Factory? {
    if let architecture = paperArchitecture {
      return { context, generator in
        try architecture.makeExpert(classCount: context.classCount, using: &generator)
      }
    }
    switch self {
    case .mlp:
      return { context, generator in
        try FeatureExpert.multilayerPerceptron(
          inputCount: context.inputCount, hiddenWidths: context.scenario.model.hiddenWidths,
          classCount: context.classCount, using: &generator)
      }
    case .conv:
      return { context, generator in
        try FeatureExpert.convolutional(
          inputShape: context.sampleShape, channels: context.scenario.model.channels,
          hiddenWidths: context.scenario.model.hiddenWidths, classCount: context.classCount,
          using: &generator)
      }
    default:
      return Self.registry.withLock { entries in entries.first { $0.kind == self }?.make }
    }
  }
}

/// A name that cannot be registered as an expert kind or a lifecycle policy.
///
/// Built-in names cannot be replaced (runs of built-in kinds and policies stay what their
/// checkpoints say); a name must be usable in `--policy a,b` and `--set KEY=VALUE`.
public struct RegistrationError: Error, CustomStringConvertible, Equatable {
  /// The name given.
  public let name: String
  /// Why it cannot be registered.
  public let reason: String

  /// The refusal of `name` for `reason`.
  public init(name: String, reason: String) {
    self.name = name
    self.reason = reason
  }

  public var description: String {
    "cannot register '\(name)': it \(reason); choose another name"
  }

  /// Throws unless `name` is non-empty and free of commas and white space.
  static func checkSpelling(of name: String) throws {
    guard !name.isEmpty else { throw RegistrationError(name: name, reason: "is empty") }
    guard !name.contains(where: { $0 == "," || $0.isWhitespace }) else {
      throw RegistrationError(name: name, reason: "contains a comma or white space")
    }
  }
}
