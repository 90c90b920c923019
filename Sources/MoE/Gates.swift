import Foundation
import NN
import TensorCore

/// Routes each sample over the experts: g(x) on the simplex over E.
///
/// A gate grows with the mixture: ``MixtureOfExperts/addExpert(_:using:)`` calls
/// ``addExpert(using:)``.
public protocol Gate: Module {
  /// E, the number of experts routed over.
  var expertCount: Int { get }
  /// Whether ``probabilities(_:expertHidden:)`` reads the experts' hidden vectors.
  var needsExpertHidden: Bool { get }
  /// g(x), [B, E].
  ///
  /// - Parameters:
  ///   - input: The batch, [B, …].
  ///   - expertHidden: h_i(x) per expert, each [B, d]; ignored by gates that do not need
  ///     them.
  func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor
  /// Makes room for one more expert.
  func addExpert(using generator: inout RandomGenerator) throws
}

/// One expert's row of a softmax gate's output layer: logit_i = w_i · h + b_i.
public final class GateRow: Module {
  /// w_i, [d].
  public let weight: Tensor
  /// b_i, [1].
  public let bias: Tensor

  /// A row drawn with PyTorch's default linear initialisation for `inputCount` inputs.
  public init(inputCount: Int, using generator: inout RandomGenerator) throws {
    let bound = 1 / Float(inputCount).squareRoot()
    weight = try .uniform([inputCount], low: -bound, high: bound, using: &generator)
    bias = try .uniform([1], low: -bound, high: bound, using: &generator)
    weight.requiresGrad = true
    bias.requiresGrad = true
    super.init()
  }

  private init(weight: Tensor, bias: Tensor) {
    self.weight = weight
    self.bias = bias
    super.init()
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    GateRow(weight: weight.copy(), bias: bias.copy())
  }
}

/// The original MoE gate: a trunk, a ReLU, a linear layer to E logits, a softmax.
///
/// The output layer is stored one row per expert (`rows.i.weight`, `rows.i.bias`), so a
/// new expert adds a row and rows can be frozen one by one.
public final class SoftmaxGate: Module, Gate {
  /// Input → h_g.
  public let trunk: Sequential
  /// The output layer, one row per expert.
  public private(set) var rows: [GateRow] {
    didSet { structureDidChange() }
  }

  /// A gate over `expertCount` experts on top of `trunk`, whose output has
  /// `hiddenCount` features.
  public init(
    trunk: Sequential, hiddenCount: Int, expertCount: Int, using generator: inout RandomGenerator
  ) throws {
    self.trunk = trunk
    rows = try (0..<expertCount).map { _ in
      try GateRow(inputCount: hiddenCount, using: &generator)
    }
    super.init()
  }

  private init(trunk: Sequential, rows: [GateRow]) {
    self.trunk = trunk
    self.rows = rows
    super.init()
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    SoftmaxGate(trunk: try trunk.copy(), rows: try rows.map { try $0.copy() })
  }

  public var expertCount: Int { rows.count }
  public var needsExpertHidden: Bool { false }

  /// The gate's logits before the softmax, [B, E].
  public func logits(_ input: Tensor) throws -> Tensor {
    let hidden = try trunk(input).relu()
    let weight = try Tensor.stack(rows.map(\.weight))
    let bias = try Tensor.concatenate(rows.map(\.bias), axis: 0)
    return try hidden.matmul(weight, transposeOther: true) + bias
  }

  public func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    try logits(input).softmax(axis: 1)
  }

  public func addExpert(using generator: inout RandomGenerator) throws {
    rows.append(try GateRow(inputCount: rows[0].weight.count, using: &generator))
  }

  /// Freezes the output rows of the given experts (their logits stop changing for a fixed
  /// h_g); the trunk is untouched.
  public func freeze(rows indices: some Sequence<Int>) {
    for index in indices where rows.indices.contains(index) { rows[index].freeze() }
  }
}

/// The attentive gate: g_i(x) = softmax_i(Q·K_i / √d) with Q = W_q h_g(x) and
/// K_i = W_k h_i(x); no bias, no value projection.
///
/// It takes new experts with no change: each brings its own keys.
public final class AttentiveGate: Module, Gate {
  /// Input → h_g, [B, d].
  public let trunk: Sequential
  /// W_q, [d, d], no bias.
  public let query: Linear
  /// W_k, [d, d], no bias.
  public let key: Linear
  /// E, the number of experts routed over.
  public private(set) var expertCount: Int

  /// A gate of dimension d = `hiddenCount` on top of `trunk`.
  public init(
    trunk: Sequential, hiddenCount: Int, expertCount: Int, using generator: inout RandomGenerator
  ) throws {
    self.trunk = trunk
    query = try Linear(hiddenCount, hiddenCount, bias: false, using: &generator)
    key = try Linear(hiddenCount, hiddenCount, bias: false, using: &generator)
    self.expertCount = expertCount
    super.init()
  }

  private init(trunk: Sequential, query: Linear, key: Linear, expertCount: Int) {
    self.trunk = trunk
    self.query = query
    self.key = key
    self.expertCount = expertCount
    super.init()
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    AttentiveGate(
      trunk: try trunk.copy(), query: try query.copy(), key: try key.copy(),
      expertCount: expertCount)
  }

  /// d, the size of the query and of the experts' hidden vectors it is compared with.
  public var hiddenCount: Int { query.outputCount }
  public var needsExpertHidden: Bool { true }

  /// The attention scores Q·K_i/√d before the softmax, [B, E].
  public func scores(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    guard expertHidden.count == expertCount, let first = expertHidden.first else {
      throw ModuleError.invalidConfiguration(
        "AttentiveGate: expected hidden vectors of \(expertCount) experts, got "
          + "\(expertHidden.count)")
    }
    let batch = first.shape[0]
    let queries = try query(trunk(input))  // [B, d]
    // All experts' keys in one product: [E·B, d] → [E, B, d].
    let keys = try key(Tensor.concatenate(expertHidden, axis: 0))
      .reshaped([expertCount, batch, hiddenCount])
    let products = try keys * queries.reshaped([1, batch, hiddenCount])
    let scores = try products.sum(axis: 2)  // [E, B]
    return try scores.transposed() * (1 / Float(hiddenCount).squareRoot())
  }

  public func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    try scores(input, expertHidden: expertHidden).softmax(axis: 1)
  }

  public func addExpert(using generator: inout RandomGenerator) throws {
    expertCount += 1
  }
}

/// The gate of a one-expert "mixture": g = 1 for every sample, no parameters.
///
/// Makes a single network a ``MixtureOfExperts`` so it trains and is measured by the same
/// code (its loss is the expert's cross-entropy).
public final class SingleExpertGate: Module, Gate {
  /// The gate (it has no parameters).
  public override init() { super.init() }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module { SingleExpertGate() }

  public var expertCount: Int { 1 }
  public var needsExpertHidden: Bool { false }

  public func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    try Tensor(shape: [input.shape[0], 1], repeating: 1)
  }

  public func addExpert(using generator: inout RandomGenerator) throws {
    throw ModuleError.invalidConfiguration("a single-expert gate cannot take more experts")
  }
}
