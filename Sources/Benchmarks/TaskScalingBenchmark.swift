import Continual
import Datasets
import Foundation
import TensorCore

/// The cost of a continual stream against its number of tasks (`expertstream bench tasks`):
/// a scenario trained over T tasks of generated MNIST-shaped data, every task the same
/// size, so that each task's training time shows how the cost grows with the experts the
/// earlier tasks left.
///
/// The data has T × C classes (C per task), each class a fixed pattern of three strokes
/// drawn at a random shift with pixel noise: a task is learnable, and an expert of one
/// class's task does not fit the others'. It is written as an IDX dataset into a temporary
/// directory, registered (``DatasetRegistry/register(_:)``) under
/// ``datasetName(classes:)`` and removed when the run ends.
public struct TaskScalingBenchmark {
  /// One stream's measurements.
  public struct Row: Sendable {
    /// T.
    public let tasks: Int
    /// Experts in the mixture after the last task.
    public let experts: Int
    /// Seconds each task trained, in task order.
    public let trainingSeconds: [Double]
    /// Class-IL accuracy averaged over the tasks after the last one, in [0, 1].
    public let averageAccuracyClassIL: Double
    /// The process's peak resident memory so far, in MiB.
    public let peakMemoryMiB: Double
  }

  /// The scenario file every stream starts from.
  public let scenarioFile: String
  /// Its `--set` overrides, applied before the benchmark's own (`dataset.name`,
  /// `split.tasks`, `split.classes_per_task`).
  public let overrides: [String]
  /// C.
  public let classesPerTask: Int
  /// Generated training samples per class.
  public let trainSamplesPerClass: Int
  /// Generated test samples per class.
  public let testSamplesPerClass: Int

  /// A benchmark of `scenarioFile` with `overrides`, over tasks of `classesPerTask` classes
  /// of `trainSamplesPerClass` training and `testSamplesPerClass` test samples each.
  public init(
    scenarioFile: String, overrides: [String] = [], classesPerTask: Int = 2,
    trainSamplesPerClass: Int = 2400, testSamplesPerClass: Int = 400
  ) {
    self.scenarioFile = scenarioFile
    self.overrides = overrides
    self.classesPerTask = classesPerTask
    self.trainSamplesPerClass = trainSamplesPerClass
    self.testSamplesPerClass = testSamplesPerClass
  }

  /// The registry name of the generated dataset of `classes` classes.
  public static func datasetName(classes: Int) -> String { "generated-28x28-\(classes)" }

  /// Generates the data of `tasks` tasks, then trains the scenario over them.
  ///
  /// - Parameter progress: Called with each task's progress as the run reports it.
  /// - Throws: ``DatasetError`` when the data cannot be written or registered (for example
  ///   more than 256 classes); the scenario's errors (``ScenarioError``) and the run's.
  public func run(tasks: Int, progress: (ContinualProgress) throws -> Void = { _ in }) throws
    -> Row
  {
    let classes = tasks * classesPerTask
    let name = Self.datasetName(classes: classes)
    let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
      "expertstream-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let statistics = try Self.writeGeneratedImages(
      classes: classes, trainPerClass: trainSamplesPerClass, testPerClass: testSamplesPerClass,
      into: directory)
    try DatasetRegistry.register(
      DatasetDescriptor(
        idxNamed: name,
        title: "generated: \(classes) classes of strokes, 28×28, for `expertstream bench tasks`",
        imageHeight: 28, imageWidth: 28, classNames: (0..<classes).map { "class \($0)" },
        mean: statistics.mean, standardDeviation: statistics.standardDeviation,
        directories: [directory], howToGet: "`expertstream bench tasks` writes it while it runs."))
    let scenario = try Scenario.load(
      scenarioFile,
      overrides: overrides + [
        "dataset.name=\"\(name)\"", "split.tasks=\(tasks)",
        "split.classes_per_task=\(classesPerTask)",
      ])
    let (train, test) = try scenario.loadDatasets()
    let run = try ContinualRun(
      scenario: scenario, stream: TaskStream(scenario: scenario, train: train, test: test))
    let result = try run.run(progress: progress)
    return Row(
      tasks: tasks, experts: result.experts.count,
      trainingSeconds: result.reports.map(\.trainingSeconds),
      averageAccuracyClassIL: ContinualResult.averageAccuracy(result.accuracyMatrixClassIL),
      peakMemoryMiB: peakResidentMemoryMiB())
  }

  /// Writes MNIST-format training and test files of `classes` classes into `directory`
  /// (created if missing): class k is three strokes chosen by k, each sample drawn shifted
  /// by up to 3 pixels with noise, the samples in class-interleaved order.
  ///
  /// - Returns: The training pixels' mean and standard deviation on the [0, 1] scale.
  /// - Throws: ``DatasetError/unwritable(file:reason:)`` naming a file or directory that
  ///   cannot be written.
  public static func writeGeneratedImages(
    classes: Int, trainPerClass: Int, testPerClass: Int, into directory: String
  ) throws -> (mean: Float, standardDeviation: Float) {
    let patterns = (0..<classes).map { strokePattern(seed: UInt64($0)) }
    var generator = RandomGenerator(seed: 0xda7a)
    var statistics: (mean: Float, standardDeviation: Float) = (0, 1)
    for (split, perClass) in [(DatasetSplit.train, trainPerClass), (.test, testPerClass)] {
      let count = classes * perClass
      var pixels = [UInt8](repeating: 0, count: count * 784)
      let labels = (0..<count).map { UInt8($0 % classes) }
      for sample in 0..<count {
        let pattern = patterns[sample % classes]
        let dx = Int(generator.next() % 7) - 3
        let dy = Int(generator.next() % 7) - 3
        for y in 0..<28 {
          for x in 0..<28 {
            let (sx, sy) = (x - dx, y - dy)
            let ink = (0..<28).contains(sx) && (0..<28).contains(sy) ? pattern[sy * 28 + sx] : 0
            let noisy =
              ink * (0.75 + 0.25 * generator.nextUniform()) + 0.1 * generator.nextUniform()
            pixels[sample * 784 + y * 28 + x] = UInt8(Swift.min(255, (noisy * 255).rounded()))
          }
        }
      }
      if split == .train {
        let (sum, squares) = pixels.reduce(into: (0, 0)) { totals, pixel in
          totals.0 += Int(pixel)
          totals.1 += Int(pixel) * Int(pixel)
        }
        let mean = Double(sum) / Double(pixels.count) / 255
        let variance = Double(squares) / Double(pixels.count) / (255 * 255) - mean * mean
        statistics = (Float(mean), Float(variance.squareRoot()))
      }
      try DatasetDescriptor.writeIDXSplit(
        split, images: pixels, labels: labels, imageHeight: 28, imageWidth: 28, into: directory)
    }
    return statistics
  }

  /// A 28×28 ink map in [0, 1]: three strokes between points drawn from `seed`, 2 pixels
  /// wide.
  static func strokePattern(seed: UInt64) -> [Float] {
    var generator = RandomGenerator(seed: 0x5eed_0000 &+ seed)
    var ink = [Float](repeating: 0, count: 784)
    for _ in 0..<3 {
      let (x0, y0, x1, y1) = (
        Float(4 + generator.next() % 20), Float(4 + generator.next() % 20),
        Float(4 + generator.next() % 20), Float(4 + generator.next() % 20)
      )
      for step in 0...40 {
        let t = Float(step) / 40
        let (cx, cy) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
        for y in Int(cy) - 1...Int(cy) + 1 {
          for x in Int(cx) - 1...Int(cx) + 1 where (0..<28).contains(x) && (0..<28).contains(y) {
            let distance = ((Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy))
              .squareRoot()
            ink[y * 28 + x] = Swift.max(ink[y * 28 + x], Swift.max(0, 1 - distance / 1.5))
          }
        }
      }
    }
    return ink
  }
}
