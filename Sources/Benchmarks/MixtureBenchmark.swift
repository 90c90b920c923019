import Foundation
import MoE
import NN
import TensorCore

/// Training and evaluation throughput of a paper mixture on random data of the
/// architecture's input shape (`expertstream bench moe`).
///
/// Every phase runs on the same batch; training steps update the model as they go.
public struct MixtureBenchmark {
  /// One timed phase: its name and median seconds per batch.
  public struct Phase: Sendable {
    /// What is timed.
    public let name: String
    /// Median seconds per batch.
    public let seconds: Double
  }

  /// The mixture, built from seed 1.
  public let model: MixtureOfExperts
  /// The batch size.
  public let batch: Int
  private let input: Tensor
  private let targets: [Int]

  /// A mixture of `experts` experts of `architecture` with an attentive (else softmax) gate,
  /// and one random batch of `batch` samples over 10 classes.
  public init(architecture: PaperArchitecture, experts: Int, attentive: Bool, batch: Int) throws {
    var generator = RandomGenerator(seed: 1)
    let members: [any Expert] = try (0..<experts).map { _ in
      try architecture.makeExpert(classCount: 10, using: &generator)
    }
    let trunk = try architecture.makeGateTrunk(using: &generator)
    let gate: any Gate =
      attentive
      ? try AttentiveGate(
        trunk: trunk, hiddenCount: architecture.hiddenCount, expertCount: experts,
        using: &generator)
      : try SoftmaxGate(
        trunk: trunk, hiddenCount: architecture.hiddenCount, expertCount: experts,
        using: &generator)
    model = try MixtureOfExperts(experts: members, gate: gate)
    input = try Tensor.normal([batch] + architecture.inputShape, using: &generator)
    targets = (0..<batch).map { $0 % 10 }
    self.batch = batch
  }

  /// Times, in order: the forward pass with its graph, a training step (forward, backward,
  /// Adam), a training step with L_s, and evaluation (no graph, routing metrics).
  public func phases(timer: Stopwatch) throws -> [Phase] {
    let optimizer = Adam()
    var phases: [Phase] = []
    model.train(true)
    phases.append(
      Phase(
        name: "forward (with graph)",
        seconds: try timer.seconds {
          _ = try model.objective(MixtureObjective(), input: input, targets: targets)
        }))
    phases.append(
      Phase(
        name: "train step: forward+backward+Adam",
        seconds: try timer.seconds {
          _ = try model.trainStep(
            input: input, targets: targets, objective: MixtureObjective(), optimizer: optimizer)
        }))
    let regularized = MixtureObjective(
      sampleSimilarity: SampleSimilarityRegularizer(betaSame: 1e-6, betaDifferent: 1e-6))
    phases.append(
      Phase(
        name: "train step with L_s",
        seconds: try timer.seconds {
          _ = try model.trainStep(
            input: input, targets: targets, objective: regularized, optimizer: optimizer)
        }))
    model.train(false)
    var statistics = RoutingStatistics(experts: model.experts.count, classes: 10)
    phases.append(
      Phase(
        name: "evaluation (no graph, routing metrics)",
        seconds: try timer.seconds {
          try model.accumulate(into: &statistics, input: input, targets: targets)
        }))
    return phases
  }

  /// `phases` as a table (with a header): milliseconds per batch and samples per second.
  public func table(_ phases: [Phase]) -> [[String]] {
    [["phase", "ms per batch", "samples/s"]]
      + phases.map {
        [
          $0.name, String(format: "%.2f", $0.seconds * 1e3),
          String(format: "%.0f", Double(batch) / $0.seconds),
        ]
      }
  }
}
