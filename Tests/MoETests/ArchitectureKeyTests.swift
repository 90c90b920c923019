import MoE
import NN
import TensorCore
import Testing
import _TestSupport

// Checkpoints name every tensor by its dotted key, so a checkpoint loads only into a model
// whose keys are the ones it was written with. These are the keys of every built-in
// convolutional architecture, as checkpoints written since the first release hold them.

/// Keys of a Sequential's convolution (`conv`), batch normalisation (`norm`) and linear or
/// unbiased convolution layers, by position.
private func keys(_ prefix: String, _ layers: [(index: Int, kind: String)]) -> [String] {
  layers.flatMap { index, kind -> [String] in
    let names: [String]
    switch kind {
    case "norm": names = ["weight", "bias", "runningMean", "runningVariance"]
    case "unbiased": names = ["weight"]
    default: names = ["weight", "bias"]
    }
    return names.map { "\(prefix)layers.\(index).\($0)" }
  }
}

private let output = ["output.weight", "output.bias"]
private let cifarLayers = [
  (0, "conv"), (3, "unbiased"), (4, "norm"), (7, "conv"), (10, "unbiased"), (11, "norm"),
  (15, "linear"), (17, "linear"),
]

@Test func paperArchitecturesKeepTheirCheckpointKeys() throws {
  let expected: [PaperArchitecture: (expert: [String], trunk: [String])] = [
    .mnist: (
      keys("features.", [(0, "conv"), (4, "linear"), (6, "linear")]) + output,
      keys("", [(0, "conv"), (4, "linear"), (6, "linear")])
    ),
    .fashionMNIST: (
      keys("features.", [(0, "conv"), (4, "linear"), (6, "linear")]) + output,
      keys("", [(0, "conv"), (1, "norm"), (5, "linear"), (7, "linear")])
    ),
    .cifar100: (keys("features.", cifarLayers) + output, keys("", cifarLayers)),
  ]
  for architecture in PaperArchitecture.allCases {
    var generator = RandomGenerator(seed: 1)
    let expert = try architecture.makeExpert(classCount: 10, using: &generator)
    let trunk = try architecture.makeGateTrunk(using: &generator)
    #expect(expert.state().map(\.key) == expected[architecture]?.expert, "\(architecture)")
    #expect(trunk.state().map(\.key) == expected[architecture]?.trunk, "\(architecture)")
  }
}

@Test func convolutionalExpertsKeepTheirCheckpointKeys() throws {
  var generator = RandomGenerator(seed: 2)
  let expert = try FeatureExpert.convolutional(
    inputShape: [1, 28, 28], channels: 4, hiddenWidths: [16, 8], classCount: 10, using: &generator)
  #expect(
    expert.state().map(\.key)
      == keys("features.", [(0, "conv"), (1, "norm"), (5, "linear"), (7, "linear")]) + output)
}

/// The FashionMNIST gate trunk written as separate layers (the layout of the first
/// checkpoints): its state loads into the architecture's trunk, which then computes the
/// same function in training and in evaluation.
@Test func aTrunkOfSeparateLayersLoadsIntoThePaperTrunk() throws {
  var generator = RandomGenerator(seed: 3)
  let separate = Sequential(
    try Conv2D(1, 8, kernelSize: 3, using: &generator), try BatchNorm2D(8), ReLU(),
    MaxPool2D(kernelSize: 2), Flatten(), try Linear(8 * 169, 512, using: &generator), ReLU(),
    try Linear(512, 32, using: &generator), ReLU())
  let trunk = try PaperArchitecture.fashionMNIST.makeGateTrunk(using: &generator)
  try trunk.loadState(
    Dictionary(uniqueKeysWithValues: separate.state().map { ($0.key, $0.tensor) }))
  let input = try randomTensor([6, 1, 28, 28], seed: 4)
  for training in [true, false] {
    separate.train(training)
    trunk.train(training)
    let (expected, actual) = (try separate(input).values, try trunk(input).values)
    #expect(allClose(actual, expected, relative: 1e-4, absolute: 1e-5), "training \(training)")
  }
}
