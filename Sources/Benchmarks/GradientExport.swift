import Checkpoints
import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// A paper mixture's initial weights, one batch of real data, its loss and every gradient,
/// written to HDF5 so another implementation can load the same weights and check that it
/// computes the same function (`expertstream bench gradients`;
/// `benchmarks/check_gradients.py` does it for PyTorch).
///
/// The file holds `input`, `labels`, `weights/<key>` (before the backward pass) and
/// `gradients/<key>` (trainable parameters with a gradient), with the architecture, gate,
/// experts, loss, data loss and the L_s βs as root attributes.
public struct GradientExport {
  /// The mixture's architecture.
  public var architecture: PaperArchitecture
  /// An attentive gate, else a softmax one.
  public var attentive: Bool
  /// The number of experts.
  public var experts: Int
  /// The batch: the dataset's first `batch` training samples.
  public var batch: Int
  /// L_s's β_same and β_different (the authors' placement), or none.
  public var betas: (same: Float, different: Float)?
  /// The initialisation seed.
  public var seed: Int

  /// An export of `architecture` with the given gate, experts, batch, L_s and seed.
  public init(
    architecture: PaperArchitecture, attentive: Bool, experts: Int, batch: Int,
    betas: (same: Float, different: Float)?, seed: Int
  ) {
    self.architecture = architecture
    self.attentive = attentive
    self.experts = experts
    self.batch = batch
    self.betas = betas
    self.seed = seed
  }

  /// Builds the model, computes the batch's loss and gradients on `dataset` and writes the
  /// file at `path`; returns the parameter count and the loss.
  ///
  /// - Throws: ``HDF5Error`` naming `path` when the file cannot be written.
  public func write(using dataset: Dataset, to path: String) throws -> (
    parameters: Int, loss: Float
  ) {
    let settings = PaperExperimentSettings(architecture: architecture, experts: experts)
    let experiment = PaperExperiment(settings: settings, train: dataset, test: dataset)
    var generator = RandomGenerator(seed: UInt64(seed))
    let model = try experiment.makeModel(
      for: attentive ? .attentive : .original, using: &generator)
    let initial = model.state().map { ($0.key, $0.tensor.copy()) }
    let (input, labels) = try dataset.batch(Array(0..<batch))
    let objective = MixtureObjective(
      sampleSimilarity: betas.map {
        SampleSimilarityRegularizer(
          betaSame: $0.same, betaDifferent: $0.different, placement: .differentOnly)
      })
    let (total, terms, _) = try model.objective(objective, input: input, targets: labels)
    try total.backward()
    let file = try HDF5File.create(path)
    let root = file.root
    try root.setAttribute("architecture", architecture.rawValue)
    try root.setAttribute("gate", (attentive ? Scenario.GateKind.attentive : .softmax).rawValue)
    try root.setAttribute("experts", experts)
    try root.setAttribute("loss", Double(try total.item()))
    try root.setAttribute("data_loss", Double(terms.data))
    if let betas {
      try root.setAttribute("beta_same", Double(betas.same))
      try root.setAttribute("beta_different", Double(betas.different))
    }
    try root.write("input", floats: input.values, shape: input.shape)
    try root.write("labels", integers: labels.map(Int64.init), shape: [labels.count])
    let weights = try root.group("weights")
    for (key, tensor) in initial {
      try weights.write(key, floats: tensor.values, shape: tensor.shape)
    }
    let gradients = try root.group("gradients")
    for (key, tensor) in model.parameters() {
      guard let gradient = tensor.grad else { continue }
      try gradients.write(key, floats: gradient.values, shape: gradient.shape)
    }
    return (model.parameterCount, try total.item())
  }
}
