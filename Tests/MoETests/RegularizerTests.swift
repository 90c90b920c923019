import Foundation
import MoE
import TensorCore
import Testing
import _TestSupport

/// Gate probabilities [B, E] from random logits, and the logits (a leaf).
private func randomGate(batch: Int, experts: Int, seed: UInt64) throws -> (Tensor, Tensor) {
  let logits = try randomTensor([batch, experts], low: -2, high: 2, seed: seed)
  return (try logits.softmax(axis: 1), logits)
}

/// L_s by a direct double loop over sample pairs and expert pairs, in Double.
private func directSampleSimilarity(
  gate: [Float], inputs: [Float], batch: Int, experts: Int, features: Int,
  betaSame: Double, betaDifferent: Double, placement: SampleSimilarityPlacement
) -> Double {
  var distance = [Double](repeating: 0, count: batch * batch)
  for i in 0..<batch {
    for j in 0..<batch {
      var total = 0.0
      for f in 0..<features {
        let d = Double(inputs[i * features + f]) - Double(inputs[j * features + f])
        total += d * d
      }
      distance[i * batch + j] = total.squareRoot()
    }
  }
  let largest = distance.max() ?? 1
  var same = 0.0
  var different = 0.0
  for x in 0..<batch {
    for y in 0..<batch {
      let d = distance[x * batch + y] / largest
      for e in 0..<experts {
        for f in 0..<experts {
          let product = Double(gate[x * experts + e]) * Double(gate[y * experts + f]) * d
          if e == f { same += product } else { different += product }
        }
      }
    }
  }
  same /= Double(experts)
  different /= Double(experts * experts - experts)
  let b2 = Double(batch * batch)
  switch placement {
  case .both: return (betaSame * same - betaDifferent * different) / b2
  case .differentOnly: return betaSame * same - betaDifferent * different / b2
  }
}

@Suite struct SampleSimilarityTests {
  @Test func distanceMatrixByGEMMMatchesPairwiseDistances() throws {
    let (batch, features) = (9, 13)
    let inputs = try randomTensor([batch, 1, features], seed: 3)
    let matrix = try SampleSimilarityRegularizer.distanceMatrix(inputs).values
    let x = inputs.values
    var expected = [Float](repeating: 0, count: batch * batch)
    for i in 0..<batch {
      for j in 0..<batch {
        expected[i * batch + j] = Float(
          (0..<features).reduce(0.0) {
            let d = Double(x[i * features + $1]) - Double(x[j * features + $1])
            return $0 + d * d
          }.squareRoot())
      }
    }
    let largest = expected.max()!
    #expect(allClose(matrix, expected.map { $0 / largest }, relative: 1e-4, absolute: 1e-5))
    #expect(matrix.max() == 1)
    #expect((0..<batch).allSatisfy { matrix[$0 * batch + $0] == 0 })
  }

  @Test(arguments: SampleSimilarityPlacement.allCases)
  func lossByGEMMEqualsDoubleLoop(placement: SampleSimilarityPlacement) throws {
    let (batch, experts, features) = (7, 4, 10)
    let inputs = try randomTensor([batch, features], seed: 11)
    let (gate, _) = try randomGate(batch: batch, experts: experts, seed: 5)
    let regularizer = SampleSimilarityRegularizer(
      betaSame: 0.7, betaDifferent: 0.3, placement: placement)
    let loss = try regularizer.loss(
      gate: gate, distances: SampleSimilarityRegularizer.distanceMatrix(inputs)
    ).item()
    let expected = directSampleSimilarity(
      gate: gate.values, inputs: inputs.values, batch: batch, experts: experts,
      features: features, betaSame: 0.7, betaDifferent: 0.3, placement: placement)
    #expect(abs(Double(loss) - expected) <= 1e-5 * max(1, abs(expected)))
  }

  @Test(arguments: SampleSimilarityPlacement.allCases)
  func gradientMatchesFiniteDifferences(placement: SampleSimilarityPlacement) throws {
    let inputs = try randomTensor([6, 8], seed: 2)
    let distances = try SampleSimilarityRegularizer.distanceMatrix(inputs)
    let regularizer = SampleSimilarityRegularizer(
      betaSame: 2, betaDifferent: 1.5, placement: placement)
    let logits = try randomTensor([6, 3], low: -2, high: 2, seed: 9)
    let result = try gradientCheck([logits], epsilon: 1e-2) { inputs in
      try regularizer.loss(gate: inputs[0].softmax(axis: 1), distances: distances)
    }
    #expect(result.worstError < 1e-2, "\(result)")
  }

  @Test func oneExpertHasNoAcrossExpertTerm() throws {
    let inputs = try randomTensor([5, 4], seed: 4)
    let distances = try SampleSimilarityRegularizer.distanceMatrix(inputs)
    let gate = try Tensor.ones([5, 1])
    let loss = try SampleSimilarityRegularizer(betaSame: 1, betaDifferent: 100)
      .loss(gate: gate, distances: distances).item()
    let expected = try distances.sum().item() / 25
    #expect(abs(loss - expected) < 1e-6)
  }

  @Test func mismatchedShapesThrowNamingBoth() throws {
    let regularizer = SampleSimilarityRegularizer(betaSame: 1, betaDifferent: 1)
    #expect {
      try regularizer.loss(gate: Tensor.ones([4, 3]), distances: Tensor.zeros([5, 5]))
    } throws: { error in
      "\(error)".contains("[4, 3]") && "\(error)".contains("[5, 5]")
    }
  }
}

@Suite struct ImportanceTests {
  @Test func valueIsWeightedSquaredCoefficientOfVariation() throws {
    let gate = try Tensor(shape: [2, 3], values: [0.5, 0.25, 0.25, 0.25, 0.25, 0.5])
    let importance: [Double] = [0.75, 0.5, 0.75]
    let mean = importance.reduce(0, +) / 3
    let variance = importance.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 2
    let expected = 0.4 * variance / (mean * mean)
    let loss = try ImportanceRegularizer(weight: 0.4).loss(gate: gate).item()
    #expect(abs(Double(loss) - expected) < 1e-6)
  }

  @Test func gradientMatchesFiniteDifferences() throws {
    let logits = try randomTensor([8, 5], low: -2, high: 2, seed: 21)
    let regularizer = ImportanceRegularizer(weight: 0.7)
    let result = try gradientCheck([logits], epsilon: 1e-2) { inputs in
      try regularizer.loss(gate: inputs[0].softmax(axis: 1))
    }
    #expect(result.worstError < 1e-2, "\(result)")
  }

  @Test func balancedGateHasZeroLossAndOneExpertIsZero() throws {
    #expect(
      try ImportanceRegularizer(weight: 1).loss(gate: Tensor(shape: [4, 4], repeating: 0.25)).item()
        == 0)
    #expect(try ImportanceRegularizer(weight: 1).loss(gate: Tensor.ones([4, 1])).item() == 0)
  }
}

@Suite struct RoutingStatisticsTests {
  @Test func collapseToOneExpertHasZeroEntropiesAndInformation() throws {
    var statistics = RoutingStatistics(experts: 3, classes: 2)
    try statistics.add(
      gate: [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0], labels: [0, 1, 0, 1], predictions: [0, 1, 1, 1],
      expertPredictions: [0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0])
    #expect(statistics.sampleEntropy == 0)
    #expect(statistics.usageEntropy == 0)
    #expect(statistics.classEntropy == 0)
    #expect(statistics.mutualInformationTrue == 0)
    #expect(statistics.error == 0.25)
    #expect(statistics.counts == [[2, 2], [0, 0], [0, 0]])
  }

  @Test func perfectSplitHasFullInformation() throws {
    var statistics = RoutingStatistics(experts: 2, classes: 2)
    try statistics.add(
      gate: [0.9, 0.1, 0.2, 0.8], labels: [0, 1], predictions: [0, 1],
      expertPredictions: [0, 1, 0, 1])
    #expect(abs(statistics.mutualInformationTrue - 1) < 1e-12)
    #expect(abs(statistics.mutualInformationPredicted - 1) < 1e-12)
    #expect(
      statistics.decomposition == [[0.9, 0.2], [0.1, 0.8]].map { $0.map { Double(Float($0)) } })
    let h: (Double) -> Double = { p in -(p * log2(p) + (1 - p) * log2(1 - p)) }
    #expect(
      abs(statistics.sampleEntropy - (h(Double(Float(0.9))) + h(Double(Float(0.8)))) / 2) < 1e-7)
    #expect(abs(statistics.usageEntropy - h(Double(Float(0.9) + Float(0.2)) / 2)) < 1e-7)
  }

  @Test func routingAccuracyCountsSamplesSentToAnExpertOfTheirClass() throws {
    // Expert 0 holds classes 0–1, expert 1 holds 2–3; one sample of class 2 goes to
    // expert 0, one of class 1 to expert 1.
    var statistics = RoutingStatistics(experts: 2, classes: 4)
    try statistics.add(
      gate: [0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.2, 0.8, 0.7, 0.3, 0.4, 0.6],
      labels: [0, 1, 2, 3, 2, 1], predictions: [0, 1, 2, 3, 0, 3],
      expertPredictions: Array(repeating: 0, count: 12))
    #expect(statistics.routingAccuracy(expertClasses: [[0, 1], [2, 3]]) == 4.0 / 6.0)
    // Experts that hold every class route everything correctly; unknown experts nothing.
    #expect(statistics.routingAccuracy(expertClasses: [[0, 1, 2, 3], [0, 1, 2, 3]]) == 1)
    #expect(statistics.routingAccuracy(expertClasses: []) == 0)
  }

  @Test func badBatchesThrow() {
    var statistics = RoutingStatistics(experts: 2, classes: 2)
    #expect(throws: RoutingStatisticsError.self) {
      try statistics.add(
        gate: [1, 0], labels: [0, 1], predictions: [0, 1], expertPredictions: [0, 0, 0, 0])
    }
    #expect(throws: RoutingStatisticsError.classOutOfRange(2, classes: 2)) {
      try statistics.add(gate: [1, 0], labels: [2], predictions: [0], expertPredictions: [0, 0])
    }
  }
}
