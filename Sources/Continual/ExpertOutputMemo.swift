import MoE
import NN
import TensorCore

/// What each expert gave on test batches in evaluation mode, kept while the expert's state
/// is unchanged: an evaluation after every task runs four passes over every seen task's
/// test set, and a frozen expert's outputs on an old test batch never change. With an
/// evidence gate, each expert's evidence on a batch is kept the same way, while the
/// expert's slot of the gate is unchanged.
///
/// Outputs are kept per exact batch (its sample indices, in order), so a remembered output
/// is the one running the expert on that batch would give, bit for bit. An expert whose
/// parameters or statistics changed since (told by a fingerprint of its state) forgets its
/// outputs. Memory is bounded by ``outputBudget`` and ``evidenceBudget``: past one, nothing
/// more of its kind is kept.
final class ExpertOutputMemo {
  /// At most this many bytes of remembered outputs (logits and hidden vectors).
  static let outputBudget = 32 << 20
  /// At most this many bytes of remembered evidence: 8 bytes per expert and sample, as
  /// costly to compute as an output of 72 floats, so it gets a budget of its own (enough
  /// for 20 tasks of 800 test samples under both batchings).
  static let evidenceBudget = 8 << 20

  private var outputs = PerExpertStore<[Int], ExpertOutput>(
    budget: ExpertOutputMemo.outputBudget
  ) { ($0.logits.count + $0.hidden.count) * MemoryLayout<Float>.stride }
  private var evidence = PerExpertStore<[Int], [Double]>(budget: ExpertOutputMemo.evidenceBudget) {
    $0.count * MemoryLayout<Double>.stride
  }

  /// Forgets the outputs of every expert of `model` whose state changed since they were
  /// kept, and the evidence of every slot of its evidence gate that changed; call before
  /// evaluating, with the model in evaluation mode.
  func refresh(for model: MixtureOfExperts) {
    outputs.refresh(fingerprints: model.experts.map { Self.fingerprint(of: $0.state()) })
    guard let gate = model.gate as? EvidenceGate else { return }
    evidence.refresh(fingerprints: gate.experts.map { Self.fingerprint(of: $0.state()) })
  }

  /// The kept outputs on `batch`, by expert index.
  func known(on batch: [Int]) -> [Int: ExpertOutput] { outputs.known(batch) }

  /// Keeps `computed` (one output per expert, on `batch`) for the experts not kept yet,
  /// while the budget allows.
  func remember(_ computed: [ExpertOutput], on batch: [Int]) {
    outputs.remember(computed, batch)
  }

  /// The kept evidence on `batch`, by expert index.
  func knownEvidence(on batch: [Int]) -> [Int: [Double]] { evidence.known(batch) }

  /// Keeps `computed` (each expert's evidence on `batch`) for the experts not kept yet,
  /// while the budget allows.
  func rememberEvidence(_ computed: [[Double]], on batch: [Int]) {
    evidence.remember(computed, batch)
  }

  /// FNV-1a over the keys, shapes and bits of every tensor of a module's `state`.
  static func fingerprint(of state: [(key: String, tensor: Tensor)]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ word: UInt64) {
      hash = (hash ^ word) &* 0x100_0000_01b3
    }
    for (key, tensor) in state {
      for byte in key.utf8 { mix(UInt64(byte)) }
      for size in tensor.shape { mix(UInt64(bitPattern: Int64(size))) }
      let values = tensor.storage.pointer
      for index in 0..<tensor.count { mix(UInt64(values[index].bitPattern)) }
    }
    return hash
  }
}
