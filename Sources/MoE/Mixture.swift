import NN
import TensorCore

/// The training loss of the mixture.
public enum MixtureLoss: String, Sendable, CaseIterable {
  /// −mean log(Σ_i g_i y_i[target] + 1e-15): the dense mixture, as the paper trains it.
  case mixture
  /// Jacobs et al. (1991): −mean log(Σ_i g_i exp(−½·CE_i) + 1e-15), CE_i the expert's
  /// cross-entropy.
  case competitive
}

/// Everything one forward pass of the mixture produces.
public struct MixtureOutput {
  /// g(x), [B, E].
  public let gate: Tensor
  /// y_i(x) = softmax(o_i(x)) stacked, [B, E, K].
  public let expertProbabilities: Tensor
  /// p(y|x) = Σ_i g_i(x) y_i(x), [B, K].
  public let probabilities: Tensor
  /// Each expert's raw output.
  public let expertOutputs: [ExpertOutput]
}

/// Which classes the mixture's output may predict: the head of a task-incremental
/// (the task's classes) or class-incremental (the classes seen so far) evaluation, and,
/// per expert, the classes it was trained on.
public struct OutputHead: Sendable, Equatable {
  /// Classes every expert may predict, or `nil` for all.
  public var allowedClasses: [Int]?
  /// Per expert, the classes it may predict (intersected with ``allowedClasses``), or
  /// `nil` for no per-expert restriction. An expert left with no class contributes
  /// probability 0 everywhere.
  public var expertClasses: [[Int]]?

  /// A head; unrestricted by default.
  public init(allowedClasses: [Int]? = nil, expertClasses: [[Int]]? = nil) {
    self.allowedClasses = allowedClasses
    self.expertClasses = expertClasses
  }

  /// The classes expert `index` may predict, or `nil` when unrestricted.
  func classes(ofExpert index: Int, classCount: Int) throws -> [Int]? {
    let own = expertClasses.map { index < $0.count ? $0[index] : [] }
    switch (allowedClasses, own) {
    case (nil, nil): return nil
    case (let allowed?, nil): return allowed
    case (nil, let own?): return own
    case (let allowed?, let own?):
      let owned = Set(own)
      return allowed.filter { owned.contains($0) }
    }
  }
}

/// The dense Mixture of Experts: every expert runs on every sample and the gate weighs
/// their class probabilities.
public final class MixtureOfExperts: Module {
  /// The experts, in the gate's order (`experts.i.…` in checkpoints).
  public private(set) var experts: [any Expert] {
    didSet { structureDidChange() }
  }
  /// The gate (`gate.…` in checkpoints).
  public private(set) var gate: any Gate {
    didSet { structureDidChange() }
  }

  /// A mixture of `experts` routed by `gate`.
  ///
  /// - Throws: ``ModuleError`` when the experts disagree on the class count, the gate routes
  ///   over a different number of experts, or an attentive gate's dimension differs from
  ///   an expert's hidden size.
  public init(experts: [any Expert], gate: any Gate) throws {
    self.experts = experts
    self.gate = gate
    super.init()
    try validate()
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// A mixture of copies of the experts and the gate, with the same task and lifecycle log.
  public override func makeCopy() throws -> Module {
    let copy = try MixtureOfExperts(
      experts: try experts.map { try $0.copy() }, gate: try gate.copy())
    copy.currentTask = currentTask
    copy.lifecycleLog = lifecycleLog
    return copy
  }

  /// K, the number of classes every expert scores.
  public var classCount: Int { experts.first?.classCount ?? 0 }

  private func validate() throws {
    guard !experts.isEmpty else {
      throw ModuleError.invalidConfiguration("a mixture needs at least one expert")
    }
    if let odd = experts.firstIndex(where: { $0.classCount != classCount }) {
      throw ModuleError.invalidConfiguration(
        "expert \(odd) scores \(experts[odd].classCount) classes, expert 0 \(classCount)")
    }
    guard gate.expertCount == experts.count else {
      throw ModuleError.invalidConfiguration(
        "the gate routes over \(gate.expertCount) experts but the mixture has \(experts.count)")
    }
    if let attentive = gate as? AttentiveGate,
      let odd = experts.firstIndex(where: { $0.hiddenCount != attentive.hiddenCount })
    {
      throw ModuleError.invalidConfiguration(
        "expert \(odd) has hidden size \(experts[odd].hiddenCount) but the attentive gate's "
          + "dimension is \(attentive.hiddenCount)")
    }
  }

  /// Runs every expert and the gate on a batch.
  ///
  /// - Parameters:
  ///   - input: [B, …], what the experts and the gate take.
  ///   - head: Which classes each expert may predict (all by default).
  ///   - routing: [B, E] routing weights to use instead of the gate's (oracle routing);
  ///     `nil` runs the gate.
  ///   - knownExpertOutputs: Outputs of some experts on this very `input`, by expert index,
  ///     which are used instead of running those experts (an evaluation that remembers
  ///     what an unchanged expert gave on the same batch).
  public func callAsFunction(
    _ input: Tensor, head: OutputHead = OutputHead(), routing: Tensor? = nil,
    knownExpertOutputs: [Int: ExpertOutput] = [:]
  ) throws -> MixtureOutput {
    let outputs = try experts.indices.map { try knownExpertOutputs[$0] ?? experts[$0](input) }
    let gateProbabilities: Tensor
    if let routing {
      gateProbabilities = routing
    } else {
      gateProbabilities = try gate.probabilities(
        input, expertHidden: gate.needsExpertHidden ? outputs.map(\.hidden) : [])
    }
    let batch = gateProbabilities.shape[0]
    let expertProbabilities = try Tensor.stack(
      outputs.enumerated().map { index, output in
        guard let allowed = try head.classes(ofExpert: index, classCount: classCount) else {
          return try output.logits.softmax(axis: 1)
        }
        // An expert allowed no class contributes nothing.
        if allowed.isEmpty { return try Tensor.zeros([batch, classCount]) }
        return try (output.logits + classMask(allowed)).softmax(axis: 1)
      }, axis: 1)
    let weighted = try expertProbabilities * gateProbabilities.reshaped([batch, experts.count, 1])
    return MixtureOutput(
      gate: gateProbabilities, expertProbabilities: expertProbabilities,
      probabilities: try weighted.sum(axis: 1), expertOutputs: outputs)
  }

  /// Runs the mixture with every expert restricted to `allowedClasses`.
  public func callAsFunction(_ input: Tensor, allowedClasses: [Int]) throws -> MixtureOutput {
    try self(input, head: OutputHead(allowedClasses: allowedClasses))
  }

  /// [1, K]: 0 for the allowed classes, −1e9 for the others, added to logits.
  private func classMask(_ allowed: [Int]) throws -> Tensor {
    var values = [Float](repeating: -1e9, count: classCount)
    for label in allowed {
      guard values.indices.contains(label) else {
        throw ModuleError.invalidConfiguration(
          "allowed class \(label) is outside the mixture's classes 0..<\(classCount)")
      }
      values[label] = 0
    }
    return try Tensor(shape: [1, classCount], values: values)
  }

  /// The loss of `output` for `targets` (B class indices).
  public func loss(_ output: MixtureOutput, targets: [Int], kind: MixtureLoss = .mixture) throws
    -> Tensor
  {
    switch kind {
    case .mixture:
      return try negativeLogLikelihood(probabilities: output.probabilities, targets: targets)
    case .competitive:
      // exp(−½·CE_i) = √y_i[target].
      let picked = try Tensor.stack(
        output.expertOutputs.map { try $0.logits.logSoftmax(axis: 1).takeAlongLastAxis(targets) },
        axis: 1)  // [B, E] log-probabilities of the target
      let likelihood = try (output.gate * (picked * 0.5).exp()).sum(axis: 1)
      return -(try (likelihood + 1e-15).log().mean())
    }
  }

  // MARK: - Lifecycle

  /// The task lifecycle events are recorded under; the continual runner sets it.
  public var currentTask = 0

  /// Every spawn, freeze and unfreeze so far, in order.
  public private(set) var lifecycleLog: [LifecycleEvent] = []

  /// Replaces the event log (when restoring a run from a checkpoint).
  public func restoreLifecycleLog(_ events: [LifecycleEvent]) {
    lifecycleLog = events
  }

  /// Adds `expert` at the end and grows the gate to route over it: a new output row for a
  /// softmax gate; an attentive gate takes it through its keys with no new parameters.
  ///
  /// - Returns: The new expert's index.
  /// - Throws: ``ModuleError`` when the expert does not fit the mixture (class count, or
  ///   hidden size for an attentive gate); the mixture is then unchanged.
  @discardableResult
  public func addExpert(_ expert: any Expert, using generator: inout RandomGenerator) throws
    -> Int
  {
    guard expert.classCount == classCount else {
      throw ModuleError.invalidConfiguration(
        "the new expert scores \(expert.classCount) classes, the mixture \(classCount)")
    }
    if let attentive = gate as? AttentiveGate, expert.hiddenCount != attentive.hiddenCount {
      throw ModuleError.invalidConfiguration(
        "the new expert has hidden size \(expert.hiddenCount) but the attentive gate's "
          + "dimension is \(attentive.hiddenCount)")
    }
    try gate.addExpert(using: &generator)
    experts.append(expert)
    lifecycleLog.append(
      LifecycleEvent(task: currentTask, expert: experts.count - 1, kind: .spawned))
    return experts.count - 1
  }

  /// Freezes expert `index`: no gradient work, no updates, and evaluation mode, so its
  /// batch-normalisation statistics stay fixed (see ``train(_:)``).
  public func freeze(expert index: Int) throws {
    try checkExpert(index)
    experts[index].freeze()
    experts[index].train(false)
    lifecycleLog.append(LifecycleEvent(task: currentTask, expert: index, kind: .frozen))
  }

  /// Makes expert `index` trainable again.
  public func unfreeze(expert index: Int) throws {
    try checkExpert(index)
    experts[index].unfreeze()
    lifecycleLog.append(LifecycleEvent(task: currentTask, expert: index, kind: .unfrozen))
  }

  /// Puts the mixture in training or evaluation mode; experts whose parameters are all
  /// frozen stay in evaluation mode, so their batch-normalisation statistics stop moving
  /// with their weights.
  public override func train(_ training: Bool = true) {
    super.train(training)
    for expert in experts where expert.isFrozen { expert.train(false) }
  }

  /// Whether every parameter of expert `index` is frozen.
  public func isFrozen(expert index: Int) -> Bool {
    experts.indices.contains(index) && experts[index].isFrozen
  }

  /// Freezes the softmax gate's output rows of the given experts.
  ///
  /// - Throws: ``ModuleError`` for a gate without per-expert rows (the attentive gate's
  ///   routing of an expert lives in that expert's keys: freeze the expert) or an index out
  ///   of range.
  public func freezeGate(rows indices: [Int]) throws {
    guard let softmax = gate as? SoftmaxGate else {
      throw ModuleError.invalidConfiguration(
        "freezeGate(rows:) needs a softmax gate; this mixture's gate is \(type(of: gate))")
    }
    for index in indices { try checkExpert(index) }
    softmax.freeze(rows: indices)
    for index in indices {
      lifecycleLog.append(LifecycleEvent(task: currentTask, expert: index, kind: .gateRowFrozen))
    }
  }

  private func checkExpert(_ index: Int) throws {
    guard experts.indices.contains(index) else {
      throw ModuleError.invalidConfiguration(
        "expert \(index) does not exist; the mixture has \(experts.count)")
    }
  }

  /// Replaces the gate (for distillation); it must route over the same experts.
  public func replaceGate(with newGate: any Gate) throws {
    guard newGate.expertCount == experts.count else {
      throw ModuleError.invalidConfiguration(
        "the new gate routes over \(newGate.expertCount) experts, the mixture has "
          + "\(experts.count)")
    }
    gate = newGate
  }
}

/// One change to the mixture's experts, recorded with the task it happened in.
public struct LifecycleEvent: Sendable, Equatable, CustomStringConvertible {
  /// What happened.
  public enum Kind: String, Sendable, CaseIterable {
    /// The expert was added.
    case spawned
    /// The expert was frozen.
    case frozen
    /// The expert was made trainable again.
    case unfrozen
    /// The expert's softmax-gate row was frozen.
    case gateRowFrozen = "gate-row-frozen"
  }

  /// The task during which it happened.
  public let task: Int
  /// The expert's index.
  public let expert: Int
  /// What happened.
  public let kind: Kind

  /// An event of `kind` for `expert` during `task` (as restored from a checkpoint).
  public init(task: Int, expert: Int, kind: Kind) {
    self.task = task
    self.expert = expert
    self.kind = kind
  }

  /// "task 1: expert 1 spawned", tasks numbered from 0 as everywhere.
  public var description: String { "task \(task): expert \(expert) \(kind.rawValue)" }
}
