#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A seeded, reproducible random number generator (xoshiro256**), passed explicitly.
///
/// Its ``state`` is four words that checkpoints save and restore, so a resumed run draws
/// the same numbers as an uninterrupted one.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Equatable {
  /// The generator's whole state.
  public var state: [UInt64]

  /// A generator seeded from `seed` by SplitMix64, as xoshiro's authors recommend.
  public init(seed: UInt64) {
    var mixer = seed
    state = (0..<4).map { _ in
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var z = mixer
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  /// A generator resuming from a saved ``state``.
  ///
  /// - Throws: ``TensorError/invalidArgument(operation:message:)`` unless the state is four
  ///   words, not all zero.
  public init(state: [UInt64]) throws {
    guard state.count == 4, state.contains(where: { $0 != 0 }) else {
      throw TensorError.invalidArgument(
        operation: "RandomGenerator(state:)",
        message: "expected 4 words, not all zero; got \(state)")
    }
    self.state = state
  }

  public mutating func next() -> UInt64 {
    let result = rotate(state[1] &* 5, 7) &* 9
    let t = state[1] << 17
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = rotate(state[3], 45)
    return result
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// A uniform Float in [0, 1) with 24 random bits.
  public mutating func nextUniform() -> Float {
    Float(next() >> 40) * 0x1p-24
  }

  /// A standard normal Float (Box–Muller, computed in Double).
  public mutating func nextNormal() -> Float {
    let u1 = (Double(next() >> 11) + 1) * 0x1p-53
    let u2 = Double(next() >> 11) * 0x1p-53
    return Float((-2 * Glibc.log(u1)).squareRoot() * cos(2 * Double.pi * u2))
  }
}

extension Tensor {
  /// Uniform values in [low, high).
  public static func uniform(
    _ shape: [Int], low: Float = 0, high: Float = 1, using generator: inout RandomGenerator,
    requiresGrad: Bool = false
  ) throws -> Tensor {
    let count = try elementCount(shape, operation: "uniform")
    let values = (0..<count).map { _ in low + (high - low) * generator.nextUniform() }
    return try Tensor(shape: shape, values: values, requiresGrad: requiresGrad)
  }

  /// Normal values with the given mean and standard deviation.
  public static func normal(
    _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
    using generator: inout RandomGenerator, requiresGrad: Bool = false
  ) throws -> Tensor {
    let count = try elementCount(shape, operation: "normal")
    let values = (0..<count).map { _ in mean + standardDeviation * generator.nextNormal() }
    return try Tensor(shape: shape, values: values, requiresGrad: requiresGrad)
  }
}
