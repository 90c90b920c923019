import Synchronization

extension PolicyName {
  /// The policies a program registered, in order of first registration.
  private static let registry = Mutex<[any LifecyclePolicy]>([])

  /// The built-in policies, in the order of ``builtIn``.
  private static let builtInPolicies: [any LifecyclePolicy] = [
    SharedPolicy(), SpawnAndFreezePolicy(), ReuseOrSpawnPolicy(), FineTunePolicy(), EWCPolicy(),
    ReplayPolicy(), JointPolicy(),
  ]

  /// Makes `policy`'s name one that scenario files (`lifecycle.policy`) and `--policy` may
  /// give, and under which its runs' checkpoints are resumed.
  ///
  /// Registration is process-wide and safe from any thread. Registering a name again
  /// replaces its policy (it keeps its place in ``known``).
  ///
  /// - Throws: ``RegistrationError`` for a built-in policy's name, an empty name, or one
  ///   with a comma or white space.
  public static func register(_ policy: any LifecyclePolicy) throws {
    let name = policy.name
    guard !builtIn.contains(name) else {
      throw RegistrationError(name: name.rawValue, reason: "is a built-in policy")
    }
    try RegistrationError.checkSpelling(of: name.rawValue)
    registry.withLock { policies in
      if let index = policies.firstIndex(where: { $0.name == name }) {
        policies[index] = policy
      } else {
        policies.append(policy)
      }
    }
  }

  /// The names registered so far, in order of first registration.
  public static var registered: [PolicyName] { registry.withLock { $0.map(\.name) } }

  /// The policy of this name: built-in or registered; `nil` for an unknown name.
  public var lifecyclePolicy: (any LifecyclePolicy)? {
    Self.builtInPolicies.first { $0.name == self }
      ?? Self.registry.withLock { policies in policies.first { $0.name == self } }
  }
}
