import NN
import TensorCore

/// The three architectures of the paper: experts and gate trunks exactly as the authors'
/// code builds them (paper.md, "Architectures").
public enum PaperArchitecture: String, CaseIterable, Sendable {
  /// MNIST: expert conv 3×3 1→1, ReLU, pool → 169 → 5, ReLU → 32, ReLU (= h_i) → K;
  /// gate trunk conv 3×3 1→1, ReLU, pool → 128, ReLU → 32 (= h_g).
  case mnist = "paper-mnist"
  /// FashionMNIST: expert conv 3×3 1→1, ReLU, pool → 64, ReLU → 32 (= h_i), ReLU → K;
  /// gate trunk conv 3×3 1→8 + BatchNorm, ReLU, pool → 512, ReLU → 32, ReLU (= h_g).
  case fashionMNIST = "paper-fmnist"
  /// CIFAR-100: expert four 3×3 convolutions with 16·2ⁱ filters (BatchNorm on the 2nd and
  /// 4th), pools → 1024, ReLU → 256 (= h_i), ReLU → K; gate trunk the same with 64·2ⁱ
  /// filters → 1024, ReLU → 256 (= h_g).
  case cifar100 = "paper-cifar100"

  /// The shape of one sample, [C, H, W].
  public var inputShape: [Int] {
    self == .cifar100 ? [3, 32, 32] : [1, 28, 28]
  }

  /// d: the size of h_i and h_g, and the attentive gate's dimension.
  public var hiddenCount: Int {
    self == .cifar100 ? 256 : 32
  }

  /// A new expert scoring `classCount` classes.
  public func makeExpert(classCount: Int, using generator: inout RandomGenerator) throws
    -> FeatureExpert
  {
    switch self {
    case .mnist:
      let features = Sequential(
        try ConvBlock(
          try Conv2D(1, 1, kernelSize: 3, using: &generator), pool: MaxPool2D(kernelSize: 2)),
        Flatten(), try Linear(169, 5, using: &generator), ReLU(),
        try Linear(5, 32, using: &generator), ReLU())
      return FeatureExpert(
        features: features, output: try Linear(32, classCount, using: &generator),
        rectifiesHidden: false)
    case .fashionMNIST:
      let features = Sequential(
        try ConvBlock(
          try Conv2D(1, 1, kernelSize: 3, using: &generator), pool: MaxPool2D(kernelSize: 2)),
        Flatten(), try Linear(169, 64, using: &generator), ReLU(),
        try Linear(64, 32, using: &generator))
      return FeatureExpert(
        features: features, output: try Linear(32, classCount, using: &generator),
        rectifiesHidden: true)
    case .cifar100:
      let features = try Self.cifarTrunk(baseFilters: 16, dense: 1024, using: &generator)
      return FeatureExpert(
        features: features, output: try Linear(256, classCount, using: &generator),
        rectifiesHidden: true)
    }
  }

  /// A new gate trunk: input [B, C, H, W] → h_g [B, ``hiddenCount``].
  public func makeGateTrunk(using generator: inout RandomGenerator) throws -> Sequential {
    switch self {
    case .mnist:
      return Sequential(
        try ConvBlock(
          try Conv2D(1, 1, kernelSize: 3, using: &generator), pool: MaxPool2D(kernelSize: 2)),
        Flatten(), try Linear(169, 128, using: &generator), ReLU(),
        try Linear(128, 32, using: &generator))
    case .fashionMNIST:
      return Sequential(
        try ConvBlock(
          try Conv2D(1, 8, kernelSize: 3, using: &generator), batchNorm: try BatchNorm2D(8),
          pool: MaxPool2D(kernelSize: 2)),
        Flatten(), try Linear(8 * 169, 512, using: &generator), ReLU(),
        try Linear(512, 32, using: &generator), ReLU())
    case .cifar100:
      return try Self.cifarTrunk(baseFilters: 64, dense: 1024, using: &generator)
    }
  }

  /// Four 3×3 padded convolutions (filters f, 2f, 4f, 8f; BatchNorm and no bias on the
  /// 2nd and 4th), each followed by ReLU and 2×2 pooling, then 8f·2·2 → dense → 256.
  private static func cifarTrunk(
    baseFilters f: Int, dense: Int, using generator: inout RandomGenerator
  ) throws -> Sequential {
    var layers: [any UnaryLayer] = []
    var channels = 3
    for stage in 0..<4 {
      let filters = f << stage
      let normalised = stage % 2 == 1
      let convolution = try Conv2D(
        channels, filters, kernelSize: 3, padding: 1, bias: !normalised, using: &generator)
      layers.append(
        try ConvBlock(
          convolution, batchNorm: normalised ? BatchNorm2D(filters) : nil,
          pool: MaxPool2D(kernelSize: 2)))
      channels = filters
    }
    layers += [
      Flatten(), try Linear(channels * 4, dense, using: &generator), ReLU(),
      try Linear(dense, 256, using: &generator),
    ]
    return Sequential(layers)
  }
}
