import MoE
import NN
import TensorCore
import Testing

/// Samples of class `label`: x = center + noise along one axis of its own, in 6 dimensions.
private func samples(_ label: Int, count: Int, generator: inout RandomGenerator) -> [Float] {
  (0..<count).flatMap { _ -> [Float] in
    var x = [Float](repeating: 0, count: 6)
    x[label] = 3
    x[label + 3] = Float(generator.next() % 1000) / 250 - 2
    return x
  }
}

@Test func anEvidenceGateRoutesBySubspaceAndTrainsUnfittedExpertsAlone() throws {
  var generator = RandomGenerator(seed: 4)
  let gate = try EvidenceGate(inputCount: 6, rank: 1, expertCount: 2)
  let batch = try Tensor(
    shape: [4, 6],
    values: samples(0, count: 2, generator: &generator)
      + samples(2, count: 2, generator: &generator))
  // Nothing fitted: both experts share every sample.
  #expect(
    try gate.probabilities(batch, expertHidden: []).values == [Float](repeating: 0.5, count: 8))

  try gate.fit(
    expert: 0,
    samples: try Tensor(shape: [20, 6], values: samples(0, count: 20, generator: &generator)),
    labels: Array(repeating: 0, count: 20))
  // Expert 1, still unfitted, takes the whole weight: it trains alone.
  #expect(try gate.probabilities(batch, expertHidden: []).values == [0, 1, 0, 1, 0, 1, 0, 1])

  try gate.fit(
    expert: 1,
    samples: try Tensor(shape: [20, 6], values: samples(2, count: 20, generator: &generator)),
    labels: Array(repeating: 2, count: 20))
  #expect(try gate.probabilities(batch, expertHidden: []).values == [1, 0, 1, 0, 0, 1, 0, 1])
  #expect(gate.parameters().isEmpty && gate.state().count == 4)

  // A gate made room for the same state loads it and routes the same.
  let copy = try EvidenceGate(inputCount: 6, rank: 1, expertCount: 2)
  let state = Dictionary(uniqueKeysWithValues: gate.state().map { ($0.key, $0.tensor) })
  try copy.makeRoom(forState: state.keys)
  try copy.loadState(state)
  #expect(
    try copy.probabilities(batch, expertHidden: []).values
      == gate.probabilities(batch, expertHidden: []).values)
  #expect(throws: ModuleError.self) {
    try gate.fit(expert: 0, samples: try Tensor.zeros([3, 6]), labels: [0, 0])
  }
}
