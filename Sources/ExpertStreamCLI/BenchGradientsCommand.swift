import Benchmarks
import Continual
import Datasets
import Foundation
import MoE

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
  let betas: (same: Float, different: Float)?
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
    attentive = (try arguments.choice("--gate") ?? Scenario.GateKind.attentive) == .attentive
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
    let (parameters, loss) = try GradientExport(
      architecture: architecture, attentive: attentive, experts: experts, batch: batch,
      betas: betas, seed: seed
    ).write(using: dataset, to: out)
    console.print("wrote \(out): \(parameters) parameters, batch \(batch), loss \(loss)")
  }
}
