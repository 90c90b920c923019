import NN
import TensorCore

/// What an expert computes for a batch: class logits and the hidden vector h_i the
/// attentive gate compares with its query.
public struct ExpertOutput {
  /// o_i(x), [B, K]; the expert's class probabilities are softmax(o_i).
  public let logits: Tensor
  /// h_i(x), [B, hiddenCount].
  public let hidden: Tensor

  /// An output from logits [B, K] and hidden vectors [B, d].
  public init(logits: Tensor, hidden: Tensor) {
    self.logits = logits
    self.hidden = hidden
  }
}

/// A module that maps a batch to class logits and exposes its hidden vector h_i.
///
/// Conform your own `Module` subclass to plug it into a ``MixtureOfExperts``: the mixture
/// needs nothing else. Its parameters are found by the module walk, so a user expert
/// is saved, frozen and optimised like the built-in ones.
///
/// ```swift
/// final class TinyExpert: Module, Expert {
///   let hiddenLayer: Linear
///   let output: Linear
///   var classCount: Int { output.outputCount }
///   var hiddenCount: Int { hiddenLayer.outputCount }
///   func callAsFunction(_ input: Tensor) throws -> ExpertOutput {
///     let flat = try input.reshaped([input.shape[0], input.count / input.shape[0]])
///     let hidden = try hiddenLayer(flat)
///     return ExpertOutput(logits: try output(hidden.relu()), hidden: hidden)
///   }
/// }
/// ```
public protocol Expert: Module {
  /// K, the number of classes the expert scores.
  var classCount: Int { get }
  /// d, the size of h_i; an attentive gate needs it to equal its attention dimension.
  var hiddenCount: Int { get }
  /// Runs the expert on a batch of inputs [B, …].
  func callAsFunction(_ input: Tensor) throws -> ExpertOutput
}

/// An expert built from a feature network (input → h_i) and a linear output layer.
///
/// This is the shape of every expert in the paper; ``PaperArchitecture`` builds them.
public final class FeatureExpert: Module, Expert {
  /// Input → h_i.
  public let features: Sequential
  /// h_i (after the optional ReLU) → logits.
  public let output: Linear
  /// Whether a ReLU sits between h_i and the output layer (h_i taken before it).
  public let rectifiesHidden: Bool

  /// An expert from its parts.
  public init(features: Sequential, output: Linear, rectifiesHidden: Bool) {
    self.features = features
    self.output = output
    self.rectifiesHidden = rectifiesHidden
    sampleWiseStepCount = Self.sampleWiseStepCount(of: features.steps)
    super.init()
  }

  /// True: its sub-modules and tensors change only through its own methods, which say so.
  public override var reportsStructureChanges: Bool { true }

  /// The same module over copies of its parts, for `Module.copy()`.
  public override func makeCopy() throws -> Module {
    FeatureExpert(
      features: try features.copy(), output: try output.copy(), rectifiesHidden: rectifiesHidden)
  }

  public var classCount: Int { output.outputCount }
  public var hiddenCount: Int { output.inputCount }

  public func callAsFunction(_ input: Tensor) throws -> ExpertOutput {
    try expertOutput(hidden: try features(input))
  }

  // MARK: - Sample-wise leading steps

  /// The number of leading ``Sequential/steps`` of ``features`` whose output row for a
  /// sample depends on that sample alone, bit for bit, in evaluation mode: convolution
  /// blocks and the rectifiers, pools and flattening around them, up to the first other
  /// layer (a linear layer's rows depend on their position in its matrix product). 0
  /// unless one of them is a ``ConvBlock``: keeping the output of the others would save
  /// nothing.
  public let sampleWiseStepCount: Int

  /// ``sampleWiseStepCount`` of a trunk of `steps`.
  private static func sampleWiseStepCount(of steps: [any UnaryLayer]) -> Int {
    let count =
      steps.firstIndex { !($0 is ConvBlock || $0 is ReLU || $0 is MaxPool2D || $0 is Flatten) }
      ?? steps.count
    return steps[..<count].contains { $0 is ConvBlock } ? count : 0
  }

  /// The output of the first ``sampleWiseStepCount`` steps of ``features``: in evaluation
  /// mode each row is the one the sample gives in any batch, so rows computed apart may be
  /// put together.
  ///
  /// - Parameter input: [B, …], as the expert takes.
  /// - Returns: [B, …]: the input itself when ``sampleWiseStepCount`` is 0.
  public func sampleWiseFeatures(_ input: Tensor) throws -> Tensor {
    try features(input, steps: 0..<sampleWiseStepCount)
  }

  /// The expert's output on a batch given what the first `count` steps of ``features``
  /// gave on it: the same as running the expert on the batch.
  ///
  /// - Parameters:
  ///   - intermediate: [B, …], the batch's rows in order.
  ///   - count: 0...``Sequential/steps``.count.
  public func callAsFunction(_ intermediate: Tensor, afterSteps count: Int) throws
    -> ExpertOutput
  {
    try expertOutput(hidden: try features(intermediate, steps: count..<features.steps.count))
  }

  /// The logits from the trunk's output, with that output as the hidden vector.
  private func expertOutput(hidden: Tensor) throws -> ExpertOutput {
    ExpertOutput(logits: try output(rectifiesHidden ? hidden.relu() : hidden), hidden: hidden)
  }

  /// A multilayer perceptron expert: flatten, then `hiddenWidths.count` fully connected layers with
  /// ReLU between them, the last one's output (before its ReLU) being h_i.
  ///
  /// - Parameters:
  ///   - inputCount: Features per sample after flattening.
  ///   - hiddenWidths: Layer widths; the last is d. Must not be empty.
  public static func multilayerPerceptron(
    inputCount: Int, hiddenWidths: [Int], classCount: Int, using generator: inout RandomGenerator
  ) throws -> FeatureExpert {
    FeatureExpert(
      features: try perceptronTrunk(
        inputCount: inputCount, widths: hiddenWidths, rectifyLast: false, using: &generator),
      output: try Linear(hiddenWidths.last ?? 1, classCount, using: &generator),
      rectifiesHidden: true)
  }
}

extension FeatureExpert {
  /// A convolutional expert: a 3×3 convolution with `channels` filters, BatchNorm, ReLU and
  /// 2×2 max pooling, then `hiddenWidths.count` fully connected layers with ReLU between them, the last
  /// one's output (before its ReLU) being h_i.
  ///
  /// - Parameters:
  ///   - inputShape: One sample's shape, [C, H, W], with H and W ≥ 4.
  ///   - channels: The convolution's filters.
  ///   - hiddenWidths: Layer widths after the pooling; the last is d. Must not be empty.
  public static func convolutional(
    inputShape: [Int], channels: Int, hiddenWidths: [Int], classCount: Int,
    using generator: inout RandomGenerator
  ) throws -> FeatureExpert {
    guard inputShape.count == 3, inputShape[1] >= 4, inputShape[2] >= 4 else {
      throw ModuleError.invalidConfiguration(
        "a convolutional expert takes [C, H, W] samples with H, W ≥ 4, not \(inputShape)")
    }
    let pooled = ((inputShape[1] - 2) / 2) * ((inputShape[2] - 2) / 2)
    let convolution = try ConvBlock(
      try Conv2D(inputShape[0], channels, kernelSize: 3, using: &generator),
      batchNorm: try BatchNorm2D(channels), pool: MaxPool2D(kernelSize: 2))
    let dense = try perceptronTrunk(
      inputCount: channels * pooled, widths: hiddenWidths, rectifyLast: false, using: &generator)
    return FeatureExpert(
      features: Sequential([convolution] + dense.layers),
      output: try Linear(hiddenWidths.last ?? 1, classCount, using: &generator),
      rectifiesHidden: true)
  }
}

/// A multilayer perceptron trunk: Flatten → Linear → ReLU → … → Linear (→ ReLU when
/// `rectifyLast`); the gate trunk of `mlp` and `conv` experts.
///
/// - Parameter widths: Layer widths; the last is the output size. Must not be empty.
public func perceptronTrunk(
  inputCount: Int, widths: [Int], rectifyLast: Bool, using generator: inout RandomGenerator
) throws -> Sequential {
  guard !widths.isEmpty else {
    throw ModuleError.invalidConfiguration("an MLP needs at least one hidden width")
  }
  var layers: [any UnaryLayer] = [Flatten()]
  var previous = inputCount
  for (index, width) in widths.enumerated() {
    layers.append(try Linear(previous, width, using: &generator))
    if index < widths.count - 1 || rectifyLast { layers.append(ReLU()) }
    previous = width
  }
  return Sequential(layers)
}
