import TensorCore

/// How a layer fills a new weight or bias.
///
/// `fanIn` is the number of inputs feeding one output (`in` for a linear layer,
/// `inChannels·kH·kW` for a convolution), `fanOut` the number of outputs one input feeds.
public enum Initializer: Sendable, Equatable {
  /// PyTorch's default for `nn.Linear` and `nn.Conv2d` weights and biases:
  /// U(−1/√fanIn, 1/√fanIn) (Kaiming-uniform with a = √5 gives the same bound).
  case pytorchDefault
  /// He (Kaiming) uniform for ReLU: U(−√(6/fanIn), √(6/fanIn)).
  case heUniform
  /// He (Kaiming) normal for ReLU: N(0, 2/fanIn).
  case heNormal
  /// Glorot (Xavier) uniform: U(−√(6/(fanIn+fanOut)), √(6/(fanIn+fanOut))).
  case glorotUniform
  /// Every element `value`.
  case constant(Float)
  /// U(low, high).
  case uniform(low: Float, high: Float)
  /// N(mean, standardDeviation²).
  case normal(mean: Float, standardDeviation: Float)

  /// All zeros.
  public static let zeros = Initializer.constant(0)
  /// All ones.
  public static let ones = Initializer.constant(1)

  /// A new tensor of `shape` filled by this rule, drawing from `generator`.
  public func makeTensor(
    _ shape: [Int], fanIn: Int, fanOut: Int, using generator: inout RandomGenerator
  ) throws -> Tensor {
    let fanIn = Float(max(fanIn, 1))
    let fanOut = Float(max(fanOut, 1))
    switch self {
    case .pytorchDefault:
      let bound = 1 / fanIn.squareRoot()
      return try .uniform(shape, low: -bound, high: bound, using: &generator)
    case .heUniform:
      let bound = (6 / fanIn).squareRoot()
      return try .uniform(shape, low: -bound, high: bound, using: &generator)
    case .heNormal:
      return try .normal(shape, standardDeviation: (2 / fanIn).squareRoot(), using: &generator)
    case .glorotUniform:
      let bound = (6 / (fanIn + fanOut)).squareRoot()
      return try .uniform(shape, low: -bound, high: bound, using: &generator)
    case .constant(let value):
      return try Tensor(shape: shape, repeating: value)
    case .uniform(let low, let high):
      return try .uniform(shape, low: low, high: high, using: &generator)
    case .normal(let mean, let standardDeviation):
      return try .normal(
        shape, mean: mean, standardDeviation: standardDeviation, using: &generator)
    }
  }
}
