import MoE
import NN
import TensorCore

/// What frozen experts' first linear layer gave on replayed training samples, kept per
/// sample and place in the product while the sample stays in the replay buffer: a frozen
/// expert runs on the replayed half of every training batch and on the whole buffer in
/// every gate epoch.
///
/// A row of a matrix product has the bits its class gives it (``ProductRowClass``: where
/// it sits in its sgemm call), whatever the other rows hold. So the first linear layer's
/// output for a sample is kept per class, and a batch's output is put together from kept
/// rows and rows computed apart at rows of their classes
/// (``BLAS/productRows(x:classes:weight:n:k:into:)``), the sample-wise steps before it
/// (``FeatureExpert/sampleWiseFeatures(_:)``) run only for those. The layers after it run
/// on the whole batch as before: the output is the one running the expert gives, bit for
/// bit. The classes are known under portable numerics only, and each call size is checked
/// (``BLAS/productRowsMatchCalls(n:k:callRows:)``) before it is relied on; otherwise the
/// experts run as usual.
///
/// ``refresh(for:)`` takes the frozen experts' fingerprints at the start of each training
/// phase: an expert changed since forgets its rows, and one trained during the phase (seen
/// unfrozen) forgets them and keeps none until the next refresh. Memory is bounded by
/// ``budget``: past it, nothing more is kept.
final class ReplayedRowMemo {
  /// At most this many bytes of kept rows (64 outputs take 256 bytes).
  static let budget = 16 << 20

  private struct Key: Hashable {
    let sample: Int
    let rowClass: ProductRowClass
  }

  private var kept = PerExpertStore<Key, [Float]>(budget: ReplayedRowMemo.budget) {
    $0.count * MemoryLayout<Float>.stride
  }
  /// The bytes of rows kept now.
  var keptBytes: Int { kept.bytes }
  /// Whether the rows of each call size of each product shape, `[n, k, rows]`, were found
  /// to have the bits of their classes.
  private var checkedCalls: [[Int]: Bool] = [:]

  /// Takes every expert's fingerprint (of the steps up to its first linear layer): new
  /// experts start empty, changed ones forget what they kept. Call at the start of a
  /// training phase, with the experts frozen as they will be.
  func refresh(for model: MixtureOfExperts) {
    for (index, expert) in model.experts.enumerated() {
      kept.refresh(
        expert: index,
        fingerprint: (expert as? FeatureExpert).flatMap(Self.fingerprint(ofKeptStepsOf:)))
    }
  }

  /// The outputs on `input` of every frozen expert of `model` in evaluation mode that has
  /// sample-wise steps followed by a linear layer, by expert index, for
  /// ``MixtureOfExperts/trainStep(input:targets:objective:optimizer:head:knownExpertOutputs:)``.
  ///
  /// - Parameters:
  ///   - input: [B, …], the training samples `samples` in order, without augmentation.
  ///   - keptRows: The rows worth keeping for later batches (replayed samples); rows
  ///     outside it are computed each time.
  func outputs(
    of model: MixtureOfExperts, input: Tensor, samples: [Int], keptRows: Range<Int>
  ) throws -> [Int: ExpertOutput] {
    var outputs: [Int: ExpertOutput] = [:]
    // The missing rows are most often the same for every expert: gathered once for them.
    var gathered: (rows: [Int], input: Tensor)?
    for (index, expert) in model.experts.enumerated()
    where kept.fingerprints.indices.contains(index) {
      guard model.isFrozen(expert: index), !expert.isTraining else {
        // Trained in this phase: what it kept is stale, and so is anything it would keep.
        kept.refresh(expert: index, fingerprint: nil)
        continue
      }
      // A fingerprint says the expert has sample-wise steps and a layer after them; with
      // nothing kept and nothing to keep, the expert runs as usual.
      guard kept.fingerprints[index] != nil, !(keptRows.isEmpty && kept.isEmpty(expert: index)),
        let expert = expert as? FeatureExpert,
        let linear = expert.features.steps[expert.sampleWiseStepCount] as? Linear,
        let classes = try rowClasses(rows: samples.count, of: linear)
      else { continue }
      let rows = try firstLinearRows(
        of: expert, linear, index: index, input: input, samples: samples, classes: classes,
        keptRows: keptRows, gathered: &gathered)
      outputs[index] = try expert(rows, afterSteps: expert.sampleWiseStepCount + 1)
    }
    return outputs
  }

  /// Forgets the rows of every sample not in `buffer`.
  func forgetAllBut(_ buffer: [Int]) {
    let held = Set(buffer)
    kept.forget { !held.contains($0.sample) }
  }

  /// [B, n]: what `linear` gives on the batch after the sample-wise steps: kept rows
  /// copied, the others computed apart and kept when in `keptRows` and the budget allows.
  /// `gathered` holds the last rows of `input` gathered and is reused when they are missing
  /// again.
  private func firstLinearRows(
    of expert: FeatureExpert, _ linear: Linear, index: Int, input: Tensor, samples: [Int],
    classes: [ProductRowClass], keptRows: Range<Int>,
    gathered: inout (rows: [Int], input: Tensor)?
  ) throws -> Tensor {
    let (n, k) = (linear.outputCount, linear.inputCount)
    let missing = samples.indices.filter {
      kept.value(expert: index, Key(sample: samples[$0], rowClass: classes[$0])) == nil
    }
    var computed = [Float](repeating: 0, count: missing.count * n)
    if !missing.isEmpty {
      let missingInput: Tensor
      if missing.count == samples.count {
        missingInput = input
      } else if let gathered, gathered.rows == missing {
        missingInput = gathered.input
      } else {
        missingInput = try input.gather(missing, axis: 0)
        gathered = (missing, missingInput)
      }
      let features = try expert.sampleWiseFeatures(missingInput)
      guard features.shape == [missing.count, k] else {
        throw ModuleError.invalidConfiguration(
          "the sample-wise steps give \(features.shape), the linear layer takes [\(missing.count), \(k)]"
        )
      }
      try withExtendedLifetime(features) {
        try BLAS.productRows(
          x: features.storage.pointer, classes: missing.map { classes[$0] },
          weight: linear.weight.storage.pointer, n: n, k: k, into: &computed)
      }
      if let bias = linear.bias?.storage.pointer {
        for row in missing.indices {
          for j in 0..<n { computed[row * n + j] = computed[row * n + j] + bias[j] }
        }
      }
      for (position, row) in missing.enumerated() where keptRows.contains(row) {
        let values = Array(computed[position * n..<(position + 1) * n])
        let key = Key(sample: samples[row], rowClass: classes[row])
        guard kept.keep(values, expert: index, key) else { break }
      }
    }
    var next = 0  // the next row of `computed`
    return try Tensor(shape: [samples.count, n]) { buffer in
      for row in samples.indices {
        let target = buffer.baseAddress! + row * n
        if next < missing.count && missing[next] == row {
          computed.withUnsafeBufferPointer {
            target.initialize(from: $0.baseAddress! + next * n, count: n)
          }
          next += 1
        } else {
          kept.value(expert: index, Key(sample: samples[row], rowClass: classes[row]))!
            .withUnsafeBufferPointer { target.initialize(from: $0.baseAddress!, count: n) }
        }
      }
    }
  }

  /// The class of each of `rows` rows in `linear`'s product, or `nil` when they are not
  /// known or a call size of the product failed its check.
  private func rowClasses(rows: Int, of linear: Linear) throws -> [ProductRowClass]? {
    let (n, k) = (linear.outputCount, linear.inputCount)
    guard let calls = BLAS.rowCalls(m: rows, n: n, k: k) else { return nil }
    for size in Set(calls) {
      let shape = [n, k, size]
      if checkedCalls[shape] == nil {
        checkedCalls[shape] = try BLAS.productRowsMatchCalls(n: n, k: k, callRows: size)
      }
      if checkedCalls[shape] == false { return nil }
    }
    return BLAS.rowClasses(ofCalls: calls)
  }

  /// The fingerprint of the state of the expert's sample-wise steps and the linear layer
  /// after them (what its kept rows depend on), or `nil` when it has no such steps.
  private static func fingerprint(ofKeptStepsOf expert: FeatureExpert) -> UInt64? {
    let count = expert.sampleWiseStepCount
    guard count > 0, count < expert.features.steps.count else { return nil }
    return ExpertOutputMemo.fingerprint(
      of: expert.features.steps[...count].flatMap { $0.state() })
  }
}
