import Checkpoints
import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// `expertstream bench gradients`: writes a paper mixture's initial weights, one batch of
/// real data, its loss and every gradient to HDF5, so another implementation can load the
/// same weights and check that it computes the same function
/// (`benchmarks/check_gradients.py` does it for PyTorch).
struct BenchGradientsCommand: Command {
  static let configuration = CommandConfiguration(
    name: "bench gradients",
    summary: "Export initial weights, one batch, its loss and gradients to HDF5 for cross-checks.",
    usage: [
      "bench gradients --out FILE [--architecture NAME] [--gate softmax|attentive] "
        + "[--experts E] [--batch B] [--ls BETA_S,BETA_D] [--seed S]"
    ],
    options: [
      .option("--out", "FILE", "The HDF5 file to write."),
      .option("--architecture", "NAME", "paper-mnist or paper-fmnist (default)."),
      .option("--gate", "KIND", "softmax or attentive (default)."),
      .option("--experts", "E", "Number of experts (default 5)."),
      .option("--batch", "B", "Batch size (default 512)."),
      .option("--ls", "BETA_S,BETA_D", "Add L_s with the authors' placement."),
      .option("--seed", "S", "Initialisation seed (default 0)."),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
    ],
    examples: ["expertstream bench gradients --out /tmp/grads.h5 --gate attentive"])

  let out: String
  let architecture: PaperArchitecture
  let attentive: Bool
  let experts: Int
  let batch: Int
  let betas: (Float, Float)?
  let seed: Int
  let dataDirectory: String?

  init(_ arguments: ParsedArguments) throws {
    guard let out = arguments.value("--out") else {
      throw UsageError("bench gradients needs --out FILE", hint: "e.g. --out /tmp/grads.h5")
    }
    self.out = out
    architecture = PaperArchitecture(
      rawValue: try arguments.choice("--architecture", from: ["paper-mnist", "paper-fmnist"])
        ?? "paper-fmnist")!
    attentive =
      (try arguments.choice("--gate", from: ["softmax", "attentive"]) ?? "attentive")
      == "attentive"
    experts = try arguments.integer("--experts", in: 1...64) ?? 5
    batch = try arguments.integer("--batch", in: 2...65_536) ?? 512
    seed = try arguments.integer("--seed", in: 0...Int(Int32.max)) ?? 0
    dataDirectory = arguments.value("--data-dir")
    if let text = arguments.value("--ls") {
      let parts = text.split(separator: ",").compactMap { Float($0) }
      guard parts.count == 2 else {
        throw UsageError("--ls takes two numbers, got '\(text)'", hint: "e.g. --ls 1e-6,1e-6")
      }
      betas = (parts[0], parts[1])
    } else {
      betas = nil
    }
  }

  func run(_ console: Console) throws {
    let dataset = try DatasetRegistry.load(
      architecture == .mnist ? "mnist" : "fashion-mnist", split: .train,
      dataDirectory: dataDirectory)
    let settings = PaperExperimentSettings(architecture: architecture, experts: experts)
    let experiment = PaperExperiment(settings: settings, train: dataset, test: dataset)
    var generator = RandomGenerator(seed: UInt64(seed))
    let model = try experiment.makeModel(
      for: attentive ? .attentive : .original, using: &generator)
    let initial = model.state().map { ($0.key, $0.tensor.copy()) }
    let (input, labels) = try dataset.batch(Array(0..<batch))
    let objective = MixtureObjective(
      sampleSimilarity: betas.map {
        SampleSimilarityRegularizer(betaSame: $0.0, betaDifferent: $0.1, placement: .differentOnly)
      })
    let (total, terms, _) = try model.objective(objective, input: input, targets: labels)
    try total.backward()
    let file = try HDF5File.create(out)
    let root = file.root
    try root.setAttribute("architecture", architecture.rawValue)
    try root.setAttribute("gate", attentive ? "attentive" : "softmax")
    try root.setAttribute("experts", experts)
    try root.setAttribute("loss", Double(try total.item()))
    try root.setAttribute("data_loss", Double(terms.data))
    if let betas {
      try root.setAttribute("beta_same", Double(betas.0))
      try root.setAttribute("beta_different", Double(betas.1))
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
    console.print(
      "wrote \(out): \(model.parameterCount) parameters, batch \(batch), loss \(try total.item())")
  }
}
