import NN
import TensorCore
import Testing
import _TestSupport

/// A small model with every kind of stored property the walk follows or skips.
private class Base: Module {
  let stem: Linear
  init(using generator: inout RandomGenerator) throws {
    stem = try Linear(3, 4, using: &generator)
  }
}

private final class Model: Base {
  let blocks: [any UnaryLayer]
  let head: Linear?
  let scale: Tensor
  let _scratch: Tensor
  let notes = [1, 2, 3]

  init(head: Bool, using generator: inout RandomGenerator) throws {
    blocks = [try Linear(4, 4, using: &generator), ReLU(), try BatchNorm2D(4)]
    self.head = head ? try Linear(4, 2, bias: false, using: &generator) : nil
    scale = try Tensor(shape: [1], values: [1], requiresGrad: true)
    _scratch = try Tensor.zeros([8])
    try super.init(using: &generator)
  }
}

@Test func discoveryWalksSuperclassesArraysAndOptionalsAndSkipsUnderscores() throws {
  var generator = RandomGenerator(seed: 1)
  let model = try Model(head: true, using: &generator)
  #expect(
    model.parameters().map(\.key) == [
      "stem.weight", "stem.bias", "blocks.0.weight", "blocks.0.bias", "blocks.2.weight",
      "blocks.2.bias", "head.weight", "scale",
    ])
  #expect(
    model.state().map(\.key).filter { $0.contains("running") } == [
      "blocks.2.runningMean", "blocks.2.runningVariance",
    ])
  #expect(model.parameterCount == 12 + 4 + 16 + 4 + 4 + 4 + 8 + 1)
  let withoutHead = try Model(head: false, using: &generator)
  #expect(!withoutHead.parameters().contains { $0.key.hasPrefix("head") })
  #expect(
    model.namedModules().map(\.key) == ["", "stem", "blocks.0", "blocks.1", "blocks.2", "head"])
}

@Test func freezingRemovesParametersFromTrainingAndFromTheGradientGraph() throws {
  var generator = RandomGenerator(seed: 2)
  let model = try Model(head: true, using: &generator)
  model.stem.freeze()
  #expect(model.stem.isFrozen)
  #expect(!model.trainableParameters().contains { $0.key.hasPrefix("stem") })
  let input = try randomTensor([5, 3], seed: 3)
  let loss = try model.head!(model.stem(input).relu()).sum()
  try loss.backward()
  #expect(model.stem.weight.grad == nil)
  #expect(model.head!.weight.grad != nil)
  // The frozen layer's output has no history: no gradient work is recorded for it.
  #expect(try model.stem(input).isLeaf)
  model.stem.unfreeze()
  #expect(model.trainableParameters().contains { $0.key == "stem.weight" })
}

@Test func loadStateCopiesValuesAndNamesTheOffendingKey() throws {
  var generator = RandomGenerator(seed: 4)
  let source = try Model(head: true, using: &generator)
  let target = try Model(head: true, using: &generator)
  var values = Dictionary(uniqueKeysWithValues: source.state().map { ($0.key, $0.tensor.copy()) })
  try target.loadState(values)
  #expect(target.stem.weight.values == source.stem.weight.values)

  values["extra"] = try Tensor.zeros([1])
  #expect(throws: ModuleError.unusedKey("extra")) { try target.loadState(values) }
  values["extra"] = nil
  values["head.weight"] = try Tensor.zeros([3, 3])
  #expect(throws: ModuleError.shapeMismatch(key: "head.weight", expected: [2, 4], found: [3, 3])) {
    try target.loadState(values)
  }
  values["head.weight"] = nil
  #expect(throws: ModuleError.missingKey("head.weight")) { try target.loadState(values) }
}

/// Grows its list of layers, like a mixture that spawns experts, and says so.
private final class Growing: Module {
  private(set) var layers: [Linear] = []
  override var reportsStructureChanges: Bool { true }
  func add(_ layer: Linear) {
    layers.append(layer)
    structureDidChange()
  }
}

/// Holds one module and never changes: its walk is current while its child's is.
private final class Holder: Module {
  let child: Module
  override var reportsStructureChanges: Bool { true }
  init(_ child: Module) { self.child = child }
}

/// A user's module that replaces a sub-module and tells no one.
private final class Replacing: Module {
  var head: Linear
  var extra: [Linear] = []
  init(head: Linear) { self.head = head }
}

@Test func cachedWalkSeesStructuralChanges() throws {
  var generator = RandomGenerator(seed: 5)
  let model = Growing()
  #expect(model.parameters().isEmpty)
  model.add(try Linear(2, 2, using: &generator))
  #expect(model.parameters().map(\.key) == ["layers.0.weight", "layers.0.bias"])
  model.add(try Linear(2, 2, using: &generator))
  #expect(model.parameters().count == 4)
  // Inside a parent, a change of the child reaches the parent's walk.
  let parent = Holder(model)
  #expect(parent.parameters().count == 4)
  model.add(try Linear(2, 2, using: &generator))
  #expect(parent.parameters().map(\.key).last == "child.layers.2.bias")
}

@Test func aReplacedSubmoduleIsFoundWithoutACall() throws {
  var generator = RandomGenerator(seed: 15)
  let model = Replacing(head: try Linear(2, 3, using: &generator))
  let parent = Holder(model)
  #expect(parent.parameters().map(\.tensor.shape) == [[3, 2], [3]])
  model.head = try Linear(2, 5, bias: false, using: &generator)
  #expect(parent.parameters().map(\.tensor.shape) == [[5, 2]])
  #expect(parent.parameters()[0].tensor === model.head.weight)
  model.extra.append(try Linear(5, 1, using: &generator))
  #expect(
    parent.state().map(\.key) == [
      "child.head.weight", "child.extra.0.weight", "child.extra.0.bias",
    ])
}

@Test func aCopyHasItsOwnStorageAndTheSameKeysValuesFlagsAndModes() throws {
  var generator = RandomGenerator(seed: 16)
  let model = Sequential(
    try ConvBlock(
      Conv2D(1, 2, kernelSize: 3, using: &generator), batchNorm: BatchNorm2D(2),
      pool: MaxPool2D(kernelSize: 2)),
    Flatten(), try Linear(2, 3, using: &generator))
  _ = try model(randomTensor([4, 1, 4, 4], seed: 17))  // moves the running statistics
  model.layers[0].freeze()
  model.layers[1].train(false)
  let copy = try model.copy()
  #expect(copy.state().map(\.key) == model.state().map(\.key))
  for (original, copied) in zip(model.state(), copy.state()) {
    #expect(copied.tensor.values == original.tensor.values, "\(original.key)")
    #expect(copied.tensor.storage !== original.tensor.storage, "\(original.key)")
    #expect(copied.tensor.requiresGrad == original.tensor.requiresGrad, "\(original.key)")
  }
  #expect(
    copy.namedModules().map(\.module.isTraining) == model.namedModules().map(\.module.isTraining))
  #expect(
    copy.trainableParameters().map(\.key) == [
      "layers.1.weight", "layers.1.bias", "layers.5.weight", "layers.5.bias",
    ])
  // The copy runs the same fused block: the same bits.
  let input = try randomTensor([4, 1, 4, 4], seed: 20)
  #expect(try copy(input).values == model(input).values)
  // Changing the copy leaves the original alone.
  let before = model.state().map(\.tensor.values)
  for (_, tensor) in copy.state() { try tensor.assign(Tensor.zeros(tensor.shape)) }
  #expect(model.state().map(\.tensor.values) == before)
}

@Test func aModuleWithoutMakeCopyIsNotCopyable() throws {
  var generator = RandomGenerator(seed: 18)
  let model = Holder(Replacing(head: try Linear(2, 3, using: &generator)))
  #expect(throws: ModuleError.notCopyable("Holder")) { try model.copy() }
}

@Test func trainSwitchesTheWholeTree() throws {
  var generator = RandomGenerator(seed: 6)
  let model = try Model(head: true, using: &generator)
  model.train(false)
  #expect(model.namedModules().allSatisfy { !$0.module.isTraining })
  model.train()
  #expect(model.namedModules().allSatisfy { $0.module.isTraining })
}

@Test func initializersRespectTheirBounds() throws {
  var generator = RandomGenerator(seed: 7)
  let layer = try Linear(100, 50, using: &generator)
  let bound: Float = 1 / 10
  #expect(layer.weight.values.allSatisfy { abs($0) <= bound })
  #expect(layer.weight.values.max()! > 0.9 * bound)
  #expect(layer.bias!.values.allSatisfy { abs($0) <= bound })
  let he = try Initializer.heNormal.makeTensor(
    [200, 100], fanIn: 100, fanOut: 200, using: &generator)
  let variance = he.values.reduce(0) { $0 + $1 * $1 } / Float(he.count)
  #expect(abs(variance - 0.02) < 0.002)
  #expect(throws: ModuleError.self) { try Linear(0, 3, using: &generator) }
}

@Test func optimizerStateRestoresTrainingExactly() throws {
  for makeOptimizer in [
    { Adam(learningRate: 0.01) as any Optimizer }, { SGD(learningRate: 0.1, momentum: 0.9) },
  ] {
    func makeModel() throws -> Linear {
      var generator = RandomGenerator(seed: 8)
      return try Linear(3, 2, using: &generator)
    }
    let input = try randomTensor([6, 3], seed: 9)
    func step(_ model: Linear, _ optimizer: any Optimizer) throws {
      model.zeroGradients()
      try crossEntropy(logits: model(input), targets: [0, 1, 1, 0, 1, 0]).backward()
      try optimizer.update(model)
    }
    let straight = try makeModel()
    let straightOptimizer = makeOptimizer()
    for _ in 0..<4 { try step(straight, straightOptimizer) }

    let first = try makeModel()
    let firstOptimizer = makeOptimizer()
    for _ in 0..<2 { try step(first, firstOptimizer) }
    let savedState = firstOptimizer.state
    let savedWeights = Dictionary(
      uniqueKeysWithValues: first.state().map { ($0.key, $0.tensor.copy()) })
    let resumed = try makeModel()
    try resumed.loadState(savedWeights)
    let resumedOptimizer = makeOptimizer()
    resumedOptimizer.state = savedState
    for _ in 0..<2 { try step(resumed, resumedOptimizer) }
    #expect(resumed.weight.values == straight.weight.values)
    #expect(resumedOptimizer.state == straightOptimizer.state)
  }
}

@Test func frozenParametersGetNoUpdateAndNoOptimizerState() throws {
  var generator = RandomGenerator(seed: 10)
  let model = try Model(head: true, using: &generator)
  model.stem.freeze()
  let before = model.stem.weight.values
  let optimizer = Adam()
  let loss = try model.head!(model.stem(randomTensor([4, 3], seed: 11))).sum()
  try loss.backward()
  try optimizer.update(model)
  #expect(model.stem.weight.values == before)
  #expect(optimizer.state.slots["m"]?.keys.contains("stem.weight") == false)
  #expect(optimizer.state.slots["m"]?.keys.contains("head.weight") == true)
}

@Test func freezingStopsGradientsAndTheModeIsTrainsAlone() throws {
  var generator = RandomGenerator(seed: 12)
  let frozen = Sequential(try Conv2D(1, 2, kernelSize: 3, using: &generator), try BatchNorm2D(2))
  let trained = Sequential(try Conv2D(1, 2, kernelSize: 3, using: &generator), try BatchNorm2D(2))
  let model = Sequential(frozen, trained)
  frozen.freeze()
  model.train()
  // Frozen but training: the weights stay, the batch statistics move.
  let weightsBefore = frozen.parameters().map(\.tensor.values)
  let statisticsBefore = frozen.state().map(\.tensor.values)
  _ = try frozen(randomTensor([4, 1, 5, 5], seed: 13))
  #expect(frozen.layers[1].isTraining && frozen.isFrozen)
  #expect(frozen.state().map(\.tensor.values) != statisticsBefore)
  #expect(frozen.parameters().map(\.tensor.values) == weightsBefore)
  // …and no gradient, while the rest gets one.
  let input = try randomTensor([4, 1, 5, 5], seed: 19)
  try (frozen(input).sum() + trained(input).sum()).backward()
  #expect(frozen.parameters().allSatisfy { $0.tensor.grad == nil })
  #expect(trained.parameters().allSatisfy { $0.tensor.grad != nil })
  // Evaluation mode fixes them too.
  frozen.train(false)
  let statisticsFixed = frozen.state().map(\.tensor.values)
  _ = try frozen(randomTensor([4, 1, 5, 5], seed: 14))
  #expect(frozen.state().map(\.tensor.values) == statisticsFixed)
  #expect(trained.layers[1].isTraining && !frozen.layers[1].isTraining)
  frozen.unfreeze()
  #expect(!frozen.isFrozen && !frozen.layers[1].isTraining)
}
