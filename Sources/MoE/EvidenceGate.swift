import Foundation
import NN
import TensorCore

/// One expert's fitted ``ExpertEvidence`` as gate state: its statistics as tensors, so
/// checkpoints keep them. Never trained.
///
/// Sizes: C classes of the expert, D inputs, T values of a class's transform (``EvidenceKind``:
/// rank × D for subspaces, D × D for `gaussian`, D for `diagonal-gaussian`), Q quantiles.
public final class FittedEvidence: Module {
  /// The expert's classes (global ids), [C].
  public let classes: Tensor
  /// μ_c, [C, D].
  public let means: Tensor
  /// Each class's transform, [C, T].
  public let transforms: Tensor
  /// Per class: the log-density normaliser, the noise variance, and the mean and standard
  /// deviation of its score over its own training samples, [C, 4].
  public let classStatistics: Tensor
  /// The mean and standard deviation of the expert score over its training samples, [2].
  public let expertStatistics: Tensor
  /// The kept quantiles of the expert score and their normal scores, [2, Q].
  public let quantiles: Tensor

  /// The state of `evidence`.
  init(_ evidence: ExpertEvidence) throws {
    let count = evidence.classes.count
    classes = try Tensor(shape: [count], values: evidence.classes.map(Float.init))
    means = try Tensor(
      shape: [count, evidence.means.first?.count ?? 0], values: evidence.means.flatMap { $0 })
    transforms = try Tensor(
      shape: [count, evidence.transforms.first?.count ?? 0],
      values: evidence.transforms.flatMap { $0 })
    classStatistics = try Tensor(
      shape: [count, 4],
      values: (0..<count).flatMap {
        [
          evidence.normalisers[$0], evidence.noises[$0], evidence.classMeans[$0],
          evidence.classStds[$0],
        ].map(Float.init)
      })
    expertStatistics = try Tensor(
      shape: [2], values: [Float(evidence.expertMean), Float(evidence.expertStd)])
    quantiles = try Tensor(
      shape: [2, evidence.quantileValues.count],
      values: (evidence.quantileValues + evidence.quantileNormals).map(Float.init))
  }

  /// Zero tensors of the shapes in `shapes` (keyed by property name), for
  /// ``Module/loadState(_:)`` to fill.
  init(shapes: [String: [Int]]) throws {
    func zeros(_ name: String) throws -> Tensor {
      guard let shape = shapes[name], shape.allSatisfy({ $0 >= 0 }), shape.count <= 2 else {
        throw ModuleError.missingKey(name)
      }
      return try Tensor.zeros(shape)
    }
    classes = try zeros("classes")
    means = try zeros("means")
    transforms = try zeros("transforms")
    classStatistics = try zeros("classStatistics")
    expertStatistics = try zeros("expertStatistics")
    quantiles = try zeros("quantiles")
  }

  /// Every tensor: all are statistics, loaded and saved but never trained.
  public override var statisticNames: Set<String> {
    ["classes", "means", "transforms", "classStatistics", "expertStatistics", "quantiles"]
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    try FittedEvidence(shapes: Dictionary(uniqueKeysWithValues: state().map { ($0, $1.shape) }))
  }

  /// The evidence these tensors hold, fitted with `settings`.
  ///
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` when the shapes disagree (a damaged
  ///   checkpoint).
  func evidence(_ settings: EvidenceSettings) throws -> ExpertEvidence {
    let count = classes.count
    let ids = classes.values
    guard count > 0, ids.allSatisfy({ $0 >= 0 && $0 < 1e6 && $0 == $0.rounded() }),
      means.shape == [count, means.shape.last ?? 0],
      transforms.shape.first == count, classStatistics.shape == [count, 4],
      expertStatistics.shape == [2], quantiles.shape.first == 2, quantiles.count >= 4
    else {
      throw ModuleError.invalidConfiguration(
        "evidence of classes \(ids.prefix(8)) with means \(means.shape), transforms "
          + "\(transforms.shape), statistics \(classStatistics.shape) and quantiles "
          + "\(quantiles.shape)")
    }
    func rows(_ tensor: Tensor) -> [[Float]] {
      let width = tensor.shape[1]
      let values = tensor.values
      return (0..<count).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
    }
    let statistics = classStatistics.values.map(Double.init)
    let column = { (k: Int) in (0..<count).map { statistics[$0 * 4 + k] } }
    let quantileValues = quantiles.values.map(Double.init)
    let levels = quantiles.shape[1]
    return ExpertEvidence(
      settings: settings, classes: ids.map { Int($0) }, means: rows(means),
      transforms: rows(transforms), normalisers: column(0), noises: column(1),
      expertMean: Double(expertStatistics.values[0]),
      expertStd: Double(expertStatistics.values[1]), classMeans: column(2),
      classStds: column(3), quantileValues: Array(quantileValues[..<levels]),
      quantileNormals: Array(quantileValues[levels...]))
  }
}

/// One expert's slot of an ``EvidenceGate``: its evidence once its task is fitted.
public final class ExpertEvidenceSlot: Module {
  /// `nil` until the expert's task ends.
  public internal(set) var fitted: FittedEvidence? {
    didSet { structureDidChange() }
  }

  /// An empty slot.
  public override init() { super.init() }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    let copy = ExpertEvidenceSlot()
    copy.fitted = try fitted?.copy()
    return copy
  }
}

/// A gate built from the experts' own evidence: when an expert's task ends, it keeps a
/// score of "this sample belongs to my classes" fitted on that task's training samples
/// (an ``ExpertEvidence`` on the flattened input), and a sample goes to the expert with the
/// best calibrated score.
///
/// Experts not fitted yet (those training on the current task) share the whole weight
/// equally, so each trains alone on its task; once every expert is fitted the weight is
/// one for the best expert. Nothing of the evidence is trained by gradient.
///
/// With a ``learned`` gate (the hybrid), that gate routes while training and while any
/// expert is unfitted; in evaluation mode the best expert is the one with the largest
/// log g_e(x) + S_e(x)/τ, S_e the calibrated evidence and g the learned gate.
public final class EvidenceGate: Module, Gate {
  /// D, the size of the flattened input.
  public let inputCount: Int
  /// The score kind and its fitting settings.
  public let settings: EvidenceSettings
  /// How the scores of different experts are made comparable.
  public let calibration: EvidenceCalibration
  /// The gate trained on stored samples whose log-probabilities join the evidence, or `nil`.
  public let learned: (any Gate)?
  /// τ of the hybrid's score log g_e + S_e/τ.
  public let temperature: Double
  /// One slot per expert.
  public internal(set) var experts: [ExpertEvidenceSlot] {
    didSet { structureDidChange() }
  }

  /// A gate over `expertCount` unfitted experts, for inputs of `inputCount` values.
  ///
  /// - Parameters:
  ///   - learned: A gate over the same experts, trained elsewhere (on a replay buffer), whose
  ///     log-probabilities are added to the evidence; `nil` for evidence alone.
  ///   - temperature: τ > 0, the hybrid's scale of the evidence.
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` unless `inputCount` and `expertCount`
  ///   are positive, 1 ≤ rank < `inputCount`, the kind reads inputs (not `energy`), τ > 0 and
  ///   `learned` routes over `expertCount` experts.
  public init(
    inputCount: Int, settings: EvidenceSettings, calibration: EvidenceCalibration = .raw,
    expertCount: Int, learned: (any Gate)? = nil, temperature: Double = 1
  ) throws {
    guard inputCount > 1, expertCount > 0, (1..<inputCount).contains(settings.rank) else {
      throw ModuleError.invalidConfiguration(
        "an evidence gate needs inputs, experts and 1 ≤ rank < \(inputCount), got rank "
          + "\(settings.rank)")
    }
    guard settings.kind != .energy else {
      throw ModuleError.invalidConfiguration(
        "the evidence gate scores inputs; energy needs an expert's logits")
    }
    guard temperature > 0, learned.map({ $0.expertCount == expertCount }) ?? true else {
      throw ModuleError.invalidConfiguration(
        "a hybrid evidence gate needs τ > 0 and a learned gate over its \(expertCount) experts")
    }
    self.inputCount = inputCount
    self.settings = settings
    self.calibration = calibration
    self.learned = learned
    self.temperature = temperature
    experts = (0..<expertCount).map { _ in ExpertEvidenceSlot() }
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    let copy = try EvidenceGate(
      inputCount: inputCount, settings: settings, calibration: calibration,
      expertCount: expertCount, learned: try learned?.copy(), temperature: temperature)
    copy.experts = try experts.map { try $0.copy() }
    return copy
  }

  /// The score kinds the gate fits: every kind but `energy`, which reads an expert's logits.
  public static let kinds = EvidenceKind.allCases.filter { $0 != .energy }

  public var expertCount: Int { experts.count }
  public var needsExpertHidden: Bool { learned?.needsExpertHidden ?? false }

  /// Whether expert `index` has its evidence.
  public func isFitted(expert index: Int) -> Bool { experts[index].fitted != nil }

  /// g(x), [B, E]: see ``probabilities(_:expertHidden:among:)`` with every expert a candidate.
  public func probabilities(_ input: Tensor, expertHidden: [Tensor]) throws -> Tensor {
    try probabilities(input, expertHidden: expertHidden, among: Array(experts.indices))
  }

  /// g(x) over `candidates`, [B, E]; the other experts get 0.
  ///
  /// While training or while a candidate is unfitted, the learned gate's probabilities when
  /// there is one (restricted to the candidates and renormalised), else equal shares of the
  /// unfitted candidates; otherwise one-hot on the candidate with the best score.
  ///
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` for an empty or out-of-range
  ///   candidate list.
  public func probabilities(_ input: Tensor, expertHidden: [Tensor], among candidates: [Int])
    throws -> Tensor
  {
    try route(input, expertHidden: expertHidden, among: candidates, knownEvidence: [:]).weights
  }

  /// g(x), [B, E], as ``probabilities(_:expertHidden:)`` gives it, with the evidence of the
  /// experts in `knownEvidence` taken from there instead of computed; and every expert's
  /// evidence on this batch.
  ///
  /// An expert's evidence depends only on the input and its own fitted statistics, so an
  /// evaluation can keep it per batch while the expert's slot is unchanged: the weights
  /// are then the same, bit for bit.
  /// - Parameter knownEvidence: By expert index, the calibrated evidence S_e of every sample
  ///   of this very `input` (B values).
  /// - Returns: The weights and, per expert, its B evidence values; `nil` evidence when the
  ///   gate routed without it (training, or an expert unfitted).
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` for known evidence of another size.
  public func probabilities(
    _ input: Tensor, expertHidden: [Tensor], knownEvidence: [Int: [Double]]
  ) throws -> (weights: Tensor, evidence: [[Double]]?) {
    try route(
      input, expertHidden: expertHidden, among: Array(experts.indices),
      knownEvidence: knownEvidence)
  }

  private func route(
    _ input: Tensor, expertHidden: [Tensor], among candidates: [Int],
    knownEvidence: [Int: [Double]]
  ) throws -> (weights: Tensor, evidence: [[Double]]?) {
    guard !candidates.isEmpty, candidates.allSatisfy(experts.indices.contains) else {
      throw ModuleError.invalidConfiguration(
        "route among \(candidates) of \(expertCount) experts")
    }
    let batch = input.shape[0]
    let everyExpert = candidates.count == expertCount
    let unfitted = candidates.filter { !isFitted(expert: $0) }
    if let learned, isTraining || !unfitted.isEmpty {
      let g = try learned.probabilities(input, expertHidden: expertHidden)
      return (everyExpert ? g : try restricted(g.values, to: candidates, batch: batch), nil)
    }
    var weights = [Float](repeating: 0, count: batch * expertCount)
    if !unfitted.isEmpty {
      for row in 0..<batch {
        for expert in unfitted { weights[row * expertCount + expert] = 1 / Float(unfitted.count) }
      }
      return (try Tensor(shape: [batch, expertCount], values: weights), nil)
    }
    let (scores, evidence) = try self.scores(
      input, expertHidden: expertHidden, knownEvidence: knownEvidence)
    for row in 0..<batch {
      let best = candidates.max { scores[row][$0] < scores[row][$1] } ?? candidates[0]
      weights[row * expertCount + best] = 1
    }
    return (try Tensor(shape: [batch, expertCount], values: weights), evidence)
  }

  /// The rows of `g` restricted to `candidates` and renormalised.
  private func restricted(_ g: [Float], to candidates: [Int], batch: Int) throws -> Tensor {
    var weights = [Float](repeating: 0, count: batch * expertCount)
    for row in 0..<batch {
      let total = candidates.reduce(Float(0)) { $0 + g[row * expertCount + $1] }
      for expert in candidates {
        weights[row * expertCount + expert] =
          total > 0 ? g[row * expertCount + expert] / total : 1 / Float(candidates.count)
      }
    }
    return try Tensor(shape: [batch, expertCount], values: weights)
  }

  /// Per sample and expert, the score routing maximises: the calibrated evidence S_e, or in
  /// the hybrid log g_e + S_e/τ; and per expert its evidence (B values), taken from
  /// `knownEvidence` where given. Every expert must be fitted.
  func scores(_ input: Tensor, expertHidden: [Tensor], knownEvidence: [Int: [Double]])
    throws -> (scores: [[Double]], evidence: [[Double]])
  {
    let batch = input.shape[0]
    let x = try input.reshaped([batch, inputCount])
    var scores = [[Double]](repeating: [], count: batch)
    var evidence: [[Double]] = []
    try withGradientsDisabled {
      for (index, slot) in experts.enumerated() {
        guard let fitted = slot.fitted else {
          throw ModuleError.invalidConfiguration("an expert of the evidence gate is unfitted")
        }
        let expert: [Double]
        if let known = knownEvidence[index] {
          guard known.count == batch else {
            throw ModuleError.invalidConfiguration(
              "known evidence of expert \(index) has \(known.count) values for \(batch) samples")
          }
          expert = known
        } else {
          expert = try fitted.evidence(settings).calibratedScores(
            hidden: x, calibration: calibration
          ).scores
        }
        evidence.append(expert)
        for row in 0..<batch { scores[row].append(expert[row]) }
      }
      guard let learned else { return }
      let g = try learned.probabilities(input, expertHidden: expertHidden).values
      for row in 0..<batch {
        for expert in 0..<expertCount {
          let logG = log(max(Double(g[row * expertCount + expert]), 1e-30))
          scores[row][expert] = logG + scores[row][expert] / temperature
        }
      }
    }
    return (scores, evidence)
  }

  /// Fits expert `index` on its task's training samples of its classes.
  ///
  /// - Parameters:
  ///   - samples: [N, …] with D values each.
  ///   - labels: N class ids, each one of `classes`.
  ///   - classes: The expert's classes, in the order of its class scores.
  /// - Throws: ``ModuleError/invalidConfiguration(_:)`` when sizes disagree, a label is not
  ///   one of `classes`, a class has fewer than 2 samples or a covariance is singular.
  public func fit(expert index: Int, samples: Tensor, labels: [Int], classes: [Int]) throws {
    guard experts.indices.contains(index), samples.shape.first == labels.count,
      samples.count == labels.count * inputCount
    else {
      throw ModuleError.invalidConfiguration(
        "evidence of expert \(index) of \(expertCount): \(labels.count) labels for samples of "
          + "shape \(samples.shape)")
    }
    do {
      let evidence = try withGradientsDisabled {
        try ExpertEvidence.fit(
          settings, classes: classes, hidden: samples.reshaped([labels.count, inputCount]),
          labels: labels)
      }
      experts[index].fitted = try FittedEvidence(evidence)
    } catch let error as EvidenceError {
      throw ModuleError.invalidConfiguration(error.description)
    }
  }

  /// Makes room for the evidence `state` (keys relative to the gate, such as
  /// `experts.2.fitted.means`) holds, so that ``Module/loadState(_:)`` finds every tensor.
  ///
  /// - Throws: ``ModuleError`` when an expert's tensors are missing or of impossible shapes.
  public func makeRoom(forState state: [String: Tensor]) throws {
    var shapes: [Int: [String: [Int]]] = [:]
    for (key, tensor) in state {
      let parts = key.split(separator: ".")
      guard parts.count == 4, parts[0] == "experts", parts[2] == "fitted",
        let expert = Int(parts[1]), experts.indices.contains(expert)
      else { continue }
      shapes[expert, default: [:]][String(parts[3])] = tensor.shape
    }
    for (expert, named) in shapes {
      experts[expert].fitted = try FittedEvidence(shapes: named)
    }
  }

  public func addExpert(using generator: inout RandomGenerator) throws {
    try learned?.addExpert(using: &generator)
    experts.append(ExpertEvidenceSlot())
  }
}
