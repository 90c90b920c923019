import Foundation

/// The paper's routing metrics, accumulated batch by batch over a dataset split.
///
/// All entropies and mutual informations are in bits; sums are kept in Float64.
/// - ``error``: 1 − accuracy of the mixture.
/// - ``sampleEntropy`` H_s: the mean over samples of H(g(x)).
/// - ``usageEntropy`` H_u: H(mean_x g(x)), at most log₂ E.
/// - ``classEntropy``: the mean over the classes present of H(p(E|y)).
/// - ``mutualInformationTrue``: I(E;Y) between the argmax expert and the true label.
/// - ``mutualInformationPredicted``: I(E;Y) between the argmax expert and the label that
///   expert predicts (the authors' version).
/// - ``decomposition``: the E×K table p(e|y); ``counts``: argmax expert × true class.
/// - ``routingAccuracy(expertClasses:)``: the share of samples whose argmax expert holds
///   their class.
public struct RoutingStatistics: Sendable, Equatable {
  /// The number of experts E.
  public let experts: Int
  /// The number of classes K.
  public let classes: Int
  /// The number of samples added.
  public private(set) var samples = 0
  /// The number of samples the mixture classified correctly.
  public private(set) var correct = 0
  /// Σ over samples of H(g(x)), in bits.
  public private(set) var entropyTotal: Double = 0
  /// Σ over samples of g(x), per expert.
  public private(set) var gateTotals: [Double]
  /// Σ over samples of class k of g_e(x), E×K row-major.
  public private(set) var gateByClass: [Double]
  /// The number of samples per class.
  public private(set) var samplesByClass: [Int]
  /// Argmax expert × true class counts, E rows × K columns.
  public private(set) var counts: [[Int]]
  /// Argmax expert × that expert's predicted class counts, E rows × K columns.
  public private(set) var predictedCounts: [[Int]]

  /// Empty statistics for `experts` experts and `classes` classes.
  public init(experts: Int, classes: Int) {
    self.experts = experts
    self.classes = classes
    gateTotals = Array(repeating: 0, count: experts)
    gateByClass = Array(repeating: 0, count: experts * classes)
    samplesByClass = Array(repeating: 0, count: classes)
    counts = Array(repeating: Array(repeating: 0, count: classes), count: experts)
    predictedCounts = counts
  }

  /// Statistics restored from their accumulators (as a checkpoint stores them).
  ///
  /// - Throws: ``RoutingStatisticsError/sizeMismatch(_:)`` when a table's size does not fit
  ///   `experts` and `classes`.
  public init(
    experts: Int, classes: Int, samples: Int, correct: Int, entropyTotal: Double,
    gateTotals: [Double], gateByClass: [Double], samplesByClass: [Int], counts: [[Int]],
    predictedCounts: [[Int]]
  ) throws {
    guard gateTotals.count == experts, gateByClass.count == experts * classes,
      samplesByClass.count == classes, counts.count == experts, predictedCounts.count == experts,
      (counts + predictedCounts).allSatisfy({ $0.count == classes })
    else {
      throw RoutingStatisticsError.sizeMismatch(
        "restored tables do not fit \(experts) experts and \(classes) classes")
    }
    self.experts = experts
    self.classes = classes
    self.samples = samples
    self.correct = correct
    self.entropyTotal = entropyTotal
    self.gateTotals = gateTotals
    self.gateByClass = gateByClass
    self.samplesByClass = samplesByClass
    self.counts = counts
    self.predictedCounts = predictedCounts
  }

  /// Adds one batch.
  ///
  /// - Parameters:
  ///   - gate: Gate probabilities, B×E values row-major.
  ///   - labels: The true classes, B values in 0..<K.
  ///   - predictions: The mixture's predicted classes, B values.
  ///   - expertPredictions: For each sample, the class each expert predicts, B×E values
  ///     row-major.
  /// - Throws: ``RoutingStatisticsError`` when the counts or a class are out of range.
  public mutating func add(
    gate: [Float], labels: [Int], predictions: [Int], expertPredictions: [Int]
  ) throws {
    let batch = labels.count
    guard gate.count == batch * experts, predictions.count == batch,
      expertPredictions.count == batch * experts
    else {
      throw RoutingStatisticsError.sizeMismatch(
        "gate \(gate.count), labels \(batch), predictions \(predictions.count), "
          + "expert predictions \(expertPredictions.count) for E = \(experts)")
    }
    let known = 0..<classes
    if let bad = (labels + predictions + expertPredictions).first(where: { !known.contains($0) }) {
      throw RoutingStatisticsError.classOutOfRange(bad, classes: classes)
    }
    for sample in 0..<batch {
      let row = gate[(sample * experts)..<((sample + 1) * experts)]
      let label = labels[sample]
      var best = 0
      var entropy: Double = 0
      for (expert, probability) in row.enumerated() {
        let p = Double(probability)
        if p > 0 { entropy -= p * log2(p) }
        gateTotals[expert] += p
        gateByClass[expert * classes + label] += p
        if probability > row[row.startIndex + best] { best = expert }
      }
      entropyTotal += entropy
      samplesByClass[label] += 1
      counts[best][label] += 1
      predictedCounts[best][expertPredictions[sample * experts + best]] += 1
      if predictions[sample] == label { correct += 1 }
    }
    samples += batch
  }

  /// 1 − accuracy.
  public var error: Double { samples == 0 ? 0 : 1 - Double(correct) / Double(samples) }

  /// H_s: the mean entropy of the gate's distribution per sample.
  public var sampleEntropy: Double { samples == 0 ? 0 : entropyTotal / Double(samples) }

  /// H_u: the entropy of the mean gate distribution.
  public var usageEntropy: Double {
    guard samples > 0 else { return 0 }
    return entropyBits(gateTotals.map { $0 / Double(samples) })
  }

  /// The mean gate probability of each expert over the samples.
  public var usage: [Double] {
    gateTotals.map { samples == 0 ? 0 : $0 / Double(samples) }
  }

  /// p(e|y): E rows × K columns; a column of a class with no sample is all 0.
  public var decomposition: [[Double]] {
    (0..<experts).map { expert in
      (0..<classes).map { label in
        samplesByClass[label] == 0
          ? 0 : gateByClass[expert * classes + label] / Double(samplesByClass[label])
      }
    }
  }

  /// The entropy of p(E|y) for each class (0 for classes with no sample).
  public var entropyPerClass: [Double] {
    let table = decomposition
    return (0..<classes).map { label in entropyBits(table.map { $0[label] }) }
  }

  /// The mean over the classes present of H(p(E|y)).
  public var classEntropy: Double {
    let present = (0..<classes).filter { samplesByClass[$0] > 0 }
    guard !present.isEmpty else { return 0 }
    let perClass = entropyPerClass
    return present.reduce(0) { $0 + perClass[$1] } / Double(present.count)
  }

  /// Routing accuracy: the fraction of samples whose highest-weight expert holds their
  /// class, given the classes each expert was trained on (`expertClasses[e]`). For an
  /// expert-per-task mixture, the share of samples sent to an expert of their own task.
  public func routingAccuracy(expertClasses: [[Int]]) -> Double {
    guard samples > 0 else { return 0 }
    var routed = 0
    for (expert, row) in counts.enumerated() where expert < expertClasses.count {
      for label in Set(expertClasses[expert]) where label >= 0 && label < classes {
        routed += row[label]
      }
    }
    return Double(routed) / Double(samples)
  }

  /// I(E;Y) from the argmax expert × true class counts.
  public var mutualInformationTrue: Double { mutualInformationBits(counts) }

  /// I(E;Y) from the argmax expert × its predicted class counts.
  public var mutualInformationPredicted: Double { mutualInformationBits(predictedCounts) }
}

/// A batch that does not fit the statistics' sizes.
public enum RoutingStatisticsError: Error, CustomStringConvertible, Equatable {
  /// The gate, label or prediction arrays of a batch disagree on its size; the detail says
  /// which.
  case sizeMismatch(String)
  /// A label or prediction outside 0..<classes.
  case classOutOfRange(Int, classes: Int)

  public var description: String {
    switch self {
    case .sizeMismatch(let detail): return "routing statistics: sizes do not match (\(detail))"
    case .classOutOfRange(let label, let classes):
      return "routing statistics: class \(label) is outside 0..<\(classes)"
    }
  }
}

/// −Σ p log₂ p over the positive entries.
func entropyBits(_ distribution: [Double]) -> Double {
  distribution.reduce(0) { $1 > 0 ? $0 - $1 * log2($1) : $0 }
}

/// The mutual information, in bits, of the joint distribution given by a count table.
func mutualInformationBits(_ table: [[Int]]) -> Double {
  let total = Double(table.joined().reduce(0, +))
  guard total > 0, let columns = table.first?.count else { return 0 }
  let rows = table.map { Double($0.reduce(0, +)) / total }
  let columnTotals = (0..<columns).map { c in Double(table.reduce(0) { $0 + $1[c] }) / total }
  var information: Double = 0
  for (r, row) in table.enumerated() {
    for (c, count) in row.enumerated() where count > 0 {
      let joint = Double(count) / total
      information += joint * log2(joint / (rows[r] * columnTotals[c]))
    }
  }
  return information
}
