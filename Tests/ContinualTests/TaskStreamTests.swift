import Continual
import Datasets
import Foundation
import Testing
import _TestSupport

private func dataset(_ labels: [UInt8], split: DatasetSplit = .train) throws -> Dataset {
  try Dataset(
    name: "toy", split: split, sampleShape: [1, 2, 2],
    pixels: labels.flatMap { [UInt8](repeating: $0 * 20, count: 4) }, labels: labels,
    classCount: 6, mean: [0], standardDeviation: [1])
}

@Test func tasksAreDisjointIndexViewsWithValidationHeldOut() throws {
  let train = try dataset((0..<60).map { UInt8($0 % 6) })
  let test = try dataset((0..<30).map { UInt8($0 % 6) }, split: .test)
  let stream = TaskStream(
    train: train, test: test, classGroups: [[4, 1], [0, 2, 3]], validationFraction: 0.2, seed: 7)
  #expect(stream.tasks.count == 2)
  let first = stream.tasks[0]
  #expect(first.trainIndices.count == 16 && first.validationIndices.count == 4)
  #expect(Set(first.trainIndices).isDisjoint(with: first.validationIndices))
  #expect(
    (first.trainIndices + first.validationIndices).allSatisfy {
      [4, 1].contains(Int(train.labels[$0]))
    })
  #expect(first.testIndices.count == 10)
  #expect(stream.classesSeen(through: 1) == [4, 1, 0, 2, 3])
  let again = TaskStream(
    train: train, test: test, classGroups: [[4, 1], [0, 2, 3]], validationFraction: 0.2, seed: 7)
  #expect(again.tasks == stream.tasks)
}

@Test func aStreamEvaluatedOnValidationTestsOnTheHeldOutTrainingSamples() throws {
  let train = try dataset((0..<60).map { UInt8($0 % 6) })
  let test = try dataset((0..<30).map { UInt8($0 % 6) }, split: .test)
  var scenario = try Scenario.parse(
    Data(#"{"split": {"groups": [[4, 1], [0, 2]]}, "dataset": {"validation_fraction": 0.2}}"#.utf8),
    file: "test.json")
  let plain = TaskStream(scenario: scenario, train: train, test: test)
  scenario.dataset.evaluateOn = .validation
  let validated = TaskStream(scenario: scenario, train: train, test: test)
  #expect(validated.test.split == .train && plain.test.split == .test)
  for (held, task) in zip(validated.tasks, plain.tasks) {
    #expect(held.trainIndices == task.trainIndices)
    #expect(held.validationIndices == task.validationIndices)
    #expect(held.testIndices == task.validationIndices)
  }
}

@Test func taskIncrementalViewsUseLocalLabels() throws {
  let train = try dataset((0..<12).map { UInt8($0 % 6) })
  let stream = TaskStream(
    train: train, test: train, classGroups: [[5, 2]], validationFraction: 0, trainSamplesPerClass: 1
  )
  let task = stream.tasks[0]
  #expect(task.trainIndices == [2, 5])
  let local = TaskView(
    dataset: train, indices: task.trainIndices, labelSpace: .local(classes: task.classes))
  let global = TaskView(dataset: train, indices: task.trainIndices)
  #expect(try local.batch([0, 1]).labels == [1, 0])
  #expect(try global.batch([0, 1]).labels == [2, 5])
  #expect(allClose(try global.batch([1]).input.values, [Float](repeating: 100.0 / 255, count: 4)))
}
