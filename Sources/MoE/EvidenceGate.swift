import NN
import TensorCore

/// One class's principal subspace of an expert's task: its mean and the top `rank` principal
/// directions of its samples, in the gate's feature space (the flattened input).
///
/// Both are statistics: saved and loaded with the gate, never trained.
public final class ClassSubspace: Module {
  /// μ_c, [D].
  public let mean: Tensor
  /// The principal directions as orthonormal rows, [rank, D] (zero rows when the class had
  /// fewer samples than directions).
  public let basis: Tensor

  /// A subspace of `mean` and `basis`.
  public init(mean: Tensor, basis: Tensor) {
    self.mean = mean
    self.basis = basis
  }

  public override var statisticNames: Set<String> { ["mean", "basis"] }
}

/// The subspaces of one expert's classes; none until the expert's task is fitted.
public final class ExpertSubspaces: Module {
  /// One per class of the expert, in the order of ``EvidenceGate/classes``.
  public internal(set) var classes: [ClassSubspace] = []

  public override init() { super.init() }
}

/// A gate that needs no stored samples: each expert, when its task ends, keeps the principal
/// subspace of each of its classes in input space, and a sample goes to the expert whose
/// class subspace reconstructs it best (the smallest squared residual ‖x − μ_c‖² − ‖B_c(x −
/// μ_c)‖²). Every expert scores in the same units, so no calibration is needed.
///
/// Experts not fitted yet (those training on the current task) share the whole weight
/// equally, so each trains alone on its task; once every expert is fitted the weight is one
/// for the best-scoring expert. Nothing is trained by gradient.
public final class EvidenceGate: Module, Gate {
  /// D, the size of the flattened input.
  public let inputCount: Int
  /// The directions kept per class.
  public let rank: Int
  /// One entry per expert.
  public internal(set) var experts: [ExpertSubspaces]

  /// A gate over `expertCount` unfitted experts, for inputs of `inputCount` values.
  ///
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` unless `inputCount`, `rank` and
  ///   `expertCount` are positive and `rank` ≤ `inputCount`.
  public init(inputCount: Int, rank: Int, expertCount: Int) throws {
    guard inputCount > 0, expertCount > 0, (1...inputCount).contains(rank) else {
      throw ModuleError.invalidConfiguration(
        "an evidence gate needs inputs, experts and 1 ≤ rank ≤ \(inputCount), got rank \(rank)")
    }
    self.inputCount = inputCount
    self.rank = rank
    experts = (0..<expertCount).map { _ in ExpertSubspaces() }
  }

  public var expertCount: Int { experts.count }
  public var needsExpertHidden: Bool { false }

  /// Whether expert `index` has its subspaces.
  public func isFitted(expert index: Int) -> Bool { !experts[index].classes.isEmpty }

  /// g(x), [B, E]: uniform over the unfitted experts while there are any, else one-hot on
  /// the expert with the best class subspace.
  public func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    let batch = input.shape[0]
    var weights = [Float](repeating: 0, count: batch * expertCount)
    let unfitted = experts.indices.filter { !isFitted(expert: $0) }
    if !unfitted.isEmpty {
      for row in 0..<batch {
        for expert in unfitted { weights[row * expertCount + expert] = 1 / Float(unfitted.count) }
      }
      return try Tensor(shape: [batch, expertCount], values: weights)
    }
    let scores = try residuals(input)
    for row in 0..<batch {
      let best = (0..<expertCount).min { scores[row][$0] < scores[row][$1] } ?? 0
      weights[row * expertCount + best] = 1
    }
    return try Tensor(shape: [batch, expertCount], values: weights)
  }

  /// Per sample and expert, the smallest squared residual off the expert's class subspaces.
  func residuals(_ input: Tensor) throws -> [[Float]] {
    let batch = input.shape[0]
    let x = try input.reshaped([batch, inputCount])
    var best = [[Float]](repeating: [Float](repeating: .infinity, count: expertCount), count: batch)
    try withGradientsDisabled {
      for (expert, subspaces) in experts.enumerated() {
        for subspace in subspaces.classes {
          let centred = try x - subspace.mean.reshaped([1, inputCount])
          let total = try (centred * centred).sum(axis: 1).values
          let projected = try centred.matmul(subspace.basis, transposeOther: true)
          let kept = try (projected * projected).sum(axis: 1).values
          for row in 0..<batch {
            best[row][expert] = min(best[row][expert], total[row] - kept[row])
          }
        }
      }
    }
    return best
  }

  /// Fits expert `index` on its task's training samples: per class, the mean and the top
  /// ``rank`` principal directions.
  ///
  /// - Parameters:
  ///   - samples: The task's training samples, [N, …] with D values each.
  ///   - labels: N class ids; each class gets one subspace, in order of first appearance.
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` when sizes disagree or a class has
  ///   fewer than 2 samples.
  public func fit(expert index: Int, samples: Tensor, labels: [Int]) throws {
    guard samples.shape[0] == labels.count, samples.count == labels.count * inputCount else {
      throw ModuleError.invalidConfiguration(
        "evidence: \(labels.count) labels for samples of shape \(samples.shape)")
    }
    var order: [Int] = []
    for label in labels where !order.contains(label) { order.append(label) }
    let x = try samples.reshaped([labels.count, inputCount])
    var fitted: [ClassSubspace] = []
    try withGradientsDisabled {
      for label in order {
        let rows = labels.indices.filter { labels[$0] == label }
        guard rows.count > 1 else {
          throw ModuleError.invalidConfiguration("evidence: class \(label) has one sample")
        }
        let members = try x.gather(rows, axis: 0)
        let mean = try members.sum(axis: 0, keepingDimension: true) * (1 / Float(rows.count))
        let centred = try members - mean
        let scatter = try centred.matmul(centred, transposeSelf: true)
        let (basis, _) = try principalBasis(scatter.values, inputCount, rank: rank)
        fitted.append(
          ClassSubspace(
            mean: try mean.reshaped([inputCount]),
            basis: try Tensor(shape: [rank, inputCount], values: basis)))
      }
    }
    experts[index].classes = fitted
    structureDidChange()
  }

  /// Makes room for the subspaces `keys` (state keys relative to the gate, such as
  /// `experts.2.classes.1.mean`) hold, so that ``Module/loadState(_:)`` finds every one.
  public func makeRoom<Keys: Sequence>(forState keys: Keys) throws where Keys.Element == String {
    var counts: [Int: Int] = [:]
    for key in keys {
      let parts = key.split(separator: ".")
      guard parts.count == 5, parts[0] == "experts", parts[2] == "classes",
        let expert = Int(parts[1]), let slot = Int(parts[3]), experts.indices.contains(expert),
        (0..<10_000).contains(slot)
      else { continue }
      counts[expert] = max(counts[expert] ?? 0, slot + 1)
    }
    for (expert, count) in counts {
      experts[expert].classes = try (0..<count).map { _ in
        ClassSubspace(
          mean: try Tensor.zeros([inputCount]), basis: try Tensor.zeros([rank, inputCount]))
      }
    }
    structureDidChange()
  }

  public func addExpert(using generator: inout RandomGenerator) throws {
    experts.append(ExpertSubspaces())
    structureDidChange()
  }
}
