import TensorCore

/// Values kept per expert under keys, within one byte budget for all experts: an expert's
/// values are forgotten when its fingerprint (of the state they depend on) changes.
///
/// The store of ``ExpertOutputMemo`` (outputs and evidence per exact test batch) and of
/// ``ReplayedRowMemo`` (first-layer rows per sample and row class).
struct PerExpertStore<Key: Hashable, Value> {
  /// At most this many bytes of kept values.
  let budget: Int
  /// The bytes a value takes.
  let size: (Value) -> Int
  /// Each expert's fingerprint; `nil` for one whose values are not to be trusted yet.
  private(set) var fingerprints: [UInt64?] = []
  private var values: [[Key: Value]] = []
  /// The bytes of the values kept now.
  private(set) var bytes = 0

  init(budget: Int, size: @escaping (Value) -> Int) {
    self.budget = budget
    self.size = size
  }

  /// Takes expert `index`'s current fingerprint: a new expert starts empty, a changed one
  /// forgets what it kept.
  mutating func refresh(expert index: Int, fingerprint: UInt64?) {
    while fingerprints.count <= index {
      fingerprints.append(nil)
      values.append([:])
    }
    guard fingerprints[index] != fingerprint else { return }
    fingerprints[index] = fingerprint
    bytes -= values[index].values.reduce(0) { $0 + size($1) }
    values[index] = [:]
  }

  /// Takes every expert's current fingerprint, by index.
  mutating func refresh(fingerprints current: [UInt64]) {
    for (index, fingerprint) in current.enumerated() {
      refresh(expert: index, fingerprint: fingerprint)
    }
  }

  /// Expert `index`'s value under `key`, if kept.
  func value(expert index: Int, _ key: Key) -> Value? { values[index][key] }

  /// Whether expert `index` keeps nothing.
  func isEmpty(expert index: Int) -> Bool { values[index].isEmpty }

  /// Keeps `value` under `key` for expert `index` unless the budget is spent; returns
  /// whether it was kept (or was already).
  mutating func keep(_ value: Value, expert index: Int, _ key: Key) -> Bool {
    guard values[index][key] == nil else { return true }
    let bytesOfValue = size(value)
    guard bytes + bytesOfValue <= budget else { return false }
    values[index][key] = value
    bytes += bytesOfValue
    return true
  }

  /// Every expert's value under `key`, by expert index.
  func known(_ key: Key) -> [Int: Value] {
    var known: [Int: Value] = [:]
    for (index, kept) in values.enumerated() {
      if let value = kept[key] { known[index] = value }
    }
    return known
  }

  /// Keeps `computed` (one value per expert, in expert order) under `key`, for the experts
  /// known to the store, until the budget is spent.
  mutating func remember(_ computed: [Value], _ key: Key) {
    for (index, value) in computed.enumerated() where values.indices.contains(index) {
      guard keep(value, expert: index, key) else { return }
    }
  }

  /// Forgets every value whose key `isStale` says goes.
  mutating func forget(where isStale: (Key) -> Bool) {
    for index in values.indices {
      for (key, value) in values[index] where isStale(key) {
        values[index][key] = nil
        bytes -= size(value)
      }
    }
  }
}
