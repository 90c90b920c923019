import MoE
import NN
import TensorCore

/// What each expert gave on test batches in evaluation mode, kept while the expert's state
/// is unchanged: an evaluation after every task runs four passes over every seen task's
/// test set, and a frozen expert's outputs on an old test batch never change.
///
/// Outputs are kept per exact batch (its sample indices, in order), so a remembered output
/// is the one running the expert on that batch would give, bit for bit. An expert whose
/// parameters or statistics changed since (told by a fingerprint of its state) forgets its
/// outputs. Memory is bounded by ``byteBudget``: past it, nothing more is kept.
final class ExpertOutputMemo {
  /// At most this many bytes of remembered outputs (logits and hidden vectors).
  static let byteBudget = 32 << 20

  private var fingerprints: [UInt64] = []
  private var outputs: [[[Int]: ExpertOutput]] = []
  private var bytes = 0

  /// Forgets the outputs of every expert of `model` whose state changed since they were
  /// kept; call before evaluating, with the model in evaluation mode.
  func refresh(for model: MixtureOfExperts) {
    for (index, expert) in model.experts.enumerated() {
      let fingerprint = Self.fingerprint(of: expert)
      if index == fingerprints.count {
        fingerprints.append(fingerprint)
        outputs.append([:])
      } else if fingerprints[index] != fingerprint {
        fingerprints[index] = fingerprint
        bytes -= outputs[index].values.reduce(0) { $0 + Self.size(of: $1) }
        outputs[index] = [:]
      }
    }
  }

  /// The kept outputs on `batch`, by expert index.
  func known(on batch: [Int]) -> [Int: ExpertOutput] {
    var known: [Int: ExpertOutput] = [:]
    for (index, kept) in outputs.enumerated() {
      if let output = kept[batch] { known[index] = output }
    }
    return known
  }

  /// Keeps `computed` (one output per expert, on `batch`) for the experts not kept yet,
  /// while the budget allows.
  func remember(_ computed: [ExpertOutput], on batch: [Int]) {
    for (index, output) in computed.enumerated()
    where outputs.indices.contains(index) && outputs[index][batch] == nil {
      let size = Self.size(of: output)
      guard bytes + size <= Self.byteBudget else { return }
      outputs[index][batch] = output
      bytes += size
    }
  }

  private static func size(of output: ExpertOutput) -> Int {
    (output.logits.count + output.hidden.count) * MemoryLayout<Float>.stride
  }

  /// FNV-1a over the keys, shapes and bits of every tensor of `expert`'s state.
  private static func fingerprint(of expert: any Expert) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ word: UInt64) {
      hash = (hash ^ word) &* 0x100_0000_01b3
    }
    for (key, tensor) in expert.state() {
      for byte in key.utf8 { mix(UInt64(byte)) }
      for size in tensor.shape { mix(UInt64(bitPattern: Int64(size))) }
      let values = tensor.storage.pointer
      for index in 0..<tensor.count { mix(UInt64(values[index].bitPattern)) }
    }
    return hash
  }
}
