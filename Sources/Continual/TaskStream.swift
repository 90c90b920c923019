import Datasets
import TensorCore

/// One task of a stream: its classes and the samples that belong to it, as indices into
/// the training and test datasets (no copies).
public struct ContinualTask: Sendable, Equatable {
  /// The task's position in the stream, from 0.
  public let index: Int
  /// The task's classes, in the order that defines local labels (class `classes[i]` is
  /// local label `i`).
  public let classes: [Int]
  /// Training samples (indices into the training set).
  public let trainIndices: [Int]
  /// Validation samples held out of training (indices into the training set).
  public let validationIndices: [Int]
  /// Test samples (indices into the test set).
  public let testIndices: [Int]
}

/// Splits a dataset's classes into tasks.
public struct TaskStream: Sendable {
  /// The tasks in order.
  public let tasks: [ContinualTask]
  /// The training set the tasks index.
  public let train: Dataset
  /// The test set the tasks index.
  public let test: Dataset

  /// A stream of the given class groups.
  ///
  /// - Parameters:
  ///   - classGroups: The classes of each task (disjoint).
  ///   - validationFraction: The share of each task's training samples held out, chosen by
  ///     a seeded shuffle.
  ///   - trainSamplesPerClass: Keep only the first n training samples of each class.
  ///   - testSamplesPerClass: Keep only the first n test samples of each class.
  ///   - seed: The seed of the validation shuffle.
  public init(
    train: Dataset, test: Dataset, classGroups: [[Int]], validationFraction: Double = 0.1,
    trainSamplesPerClass: Int? = nil, testSamplesPerClass: Int? = nil, seed: UInt64 = 0
  ) {
    self.train = train
    self.test = test
    let trainByClass = train.indicesByClass().map { Array($0.prefix(trainSamplesPerClass ?? .max)) }
    let testByClass = test.indicesByClass().map { Array($0.prefix(testSamplesPerClass ?? .max)) }
    var generator = RandomGenerator(seed: seed)
    tasks = classGroups.enumerated().map { index, classes in
      var trainIndices = classes.flatMap { trainByClass[$0] }.sorted()
      trainIndices.shuffle(using: &generator)
      let held = Int((Double(trainIndices.count) * validationFraction).rounded())
      return ContinualTask(
        index: index, classes: classes,
        trainIndices: Array(trainIndices[held...]).sorted(),
        validationIndices: Array(trainIndices[..<held]).sorted(),
        testIndices: classes.flatMap { testByClass[$0] }.sorted())
    }
  }

  /// The classes of tasks 0...`task`, in task order.
  public func classesSeen(through task: Int) -> [Int] {
    tasks.prefix(task + 1).flatMap(\.classes)
  }
}

/// How a view labels its samples.
public enum LabelSpace: Sendable, Equatable {
  /// Global class ids; no task identity (class-incremental).
  case global
  /// Labels local to the task: class `classes[i]` becomes `i` (task-incremental).
  case local(classes: [Int])
}

/// A set of samples of one dataset, by index, labelled globally or locally.
public struct TaskView: SampleSource, Sendable {
  /// The dataset indexed.
  public let dataset: Dataset
  /// The samples.
  public let indices: [Int]
  /// How labels are given.
  public let labelSpace: LabelSpace

  /// A view of `indices` of `dataset`.
  public init(dataset: Dataset, indices: [Int], labelSpace: LabelSpace = .global) {
    self.dataset = dataset
    self.indices = indices
    self.labelSpace = labelSpace
  }

  public var name: String { dataset.name }
  public var sampleCount: Int { indices.count }

  public func batch(_ positions: [Int]) throws -> (input: Tensor, labels: [Int]) {
    let (input, labels) = try dataset.batch(positions.map { indices[$0] })
    return (input, relabel(labels))
  }

  /// The batch at `positions`, augmented with draws from `generator`.
  public func batch(
    _ positions: [Int], augmentation: Augmentation?, using generator: inout RandomGenerator
  ) throws -> (input: Tensor, labels: [Int]) {
    let (input, labels) = try dataset.batch(
      positions.map { indices[$0] }, augmentation: augmentation, using: &generator)
    return (input, relabel(labels))
  }

  private func relabel(_ labels: [Int]) -> [Int] {
    guard case .local(let classes) = labelSpace else { return labels }
    return labels.map { label in classes.firstIndex(of: label) ?? -1 }
  }
}

extension Dataset: SampleSource {
  public var sampleCount: Int { count }
}

extension TaskStream {
  /// The stream a scenario describes, over already loaded data.
  ///
  /// With `dataset.evaluate_on: validation` the stream's test samples are each task's
  /// validation samples (its ``test`` is the training set), so every accuracy and routing
  /// measure of a run is a validation measure.
  ///
  /// - Parameter classGroups: Tasks to use instead of the scenario's split (the paper
  ///   experiment trains one task of every class).
  public init(scenario: Scenario, train: Dataset, test: Dataset, classGroups: [[Int]]? = nil) {
    self.init(
      train: train, test: test, classGroups: classGroups ?? scenario.classGroups,
      validationFraction: scenario.dataset.validationFraction,
      trainSamplesPerClass: scenario.dataset.trainSamplesPerClass,
      testSamplesPerClass: scenario.dataset.testSamplesPerClass,
      seed: UInt64(scenario.training.seed))
    if scenario.dataset.evaluateOn == .validation { self = evaluatingOnValidation() }
  }

  private init(tasks: [ContinualTask], train: Dataset, test: Dataset) {
    self.tasks = tasks
    self.train = train
    self.test = test
  }

  /// This stream with each task's validation samples as its test samples.
  public func evaluatingOnValidation() -> TaskStream {
    TaskStream(
      tasks: tasks.map {
        ContinualTask(
          index: $0.index, classes: $0.classes, trainIndices: $0.trainIndices,
          validationIndices: $0.validationIndices, testIndices: $0.validationIndices)
      }, train: train, test: train)
  }
}

extension Scenario {
  /// Loads the scenario's dataset, both splits, through the registry.
  ///
  /// - Parameter dataDirectory: Searched first (`--data-dir`).
  public func loadDatasets(dataDirectory: String? = nil) throws -> (train: Dataset, test: Dataset) {
    let train = try DatasetRegistry.load(
      dataset.name, split: .train, dataDirectory: dataDirectory, labels: dataset.labels)
    let test = try DatasetRegistry.load(
      dataset.name, split: .test, dataDirectory: dataDirectory, labels: dataset.labels)
    return (train, test)
  }
}
