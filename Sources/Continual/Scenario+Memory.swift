import Foundation
import MoE

extension Scenario {
  /// The memory a scenario's model needs, estimated from its settings before anything is
  /// allocated.
  ///
  /// Counts are `Double`s so that absurd settings (a thousand layers of 65536) give a large
  /// estimate, not an overflow.
  public struct MemoryEstimate: Sendable, Equatable {
    /// Parameters of one expert.
    public let parametersPerExpert: Double
    /// Parameters of the gate: its trunk and the layers that score the experts.
    public let gateParameters: Double
    /// The most experts the run can hold: `model.experts`, or `lifecycle.experts_per_task`
    /// for each task (the spawning policies), whichever is more.
    public let experts: Int
    /// Values one sample's forward pass keeps for the backward pass, over every expert and
    /// the gate.
    public let activationsPerSample: Double
    /// Samples per batch.
    public let batchSize: Int
    /// Bytes the evidence gate keeps (the statistics of every class, as floats) and needs
    /// while fitting one task (a D × D scatter matrix per class, as doubles); 0 for other
    /// gates.
    public var evidenceBytes = 0.0

    /// Every parameter of the model.
    public var parameters: Double { Double(experts) * parametersPerExpert + gateParameters }

    /// Bytes: four floats per parameter (the weight, its gradient and Adam's two moments),
    /// two per activation of a batch (the value and its gradient), and the evidence.
    public var bytes: Double {
      4 * (4 * parameters + 2 * Double(batchSize) * activationsPerSample) + evidenceBytes
    }
  }

  /// The memory the scenario's model needs (see ``MemoryEstimate``).
  public var memoryEstimate: MemoryEstimate {
    let expert = expertSize
    let gate = gateSize
    let experts = max(
      model.experts,
      lifecycle.expertGranularity == .class
        ? classCount : lifecycle.expertsPerTask * classGroups.count)
    let d = Double(hiddenCount)
    let scoring =
      model.gate == .attentive
      ? 2 * d * d : Double(gateHiddenCount + 1) * Double(experts)
    var estimate = MemoryEstimate(
      parametersPerExpert: expert.parameters, gateParameters: gate.parameters + scoring,
      experts: experts,
      activationsPerSample: Double(experts) * expert.activations + gate.activations,
      batchSize: training.batchSize)
    if lifecycle.gate.usesEvidence {
      let inputs = Double(sampleShape.reduce(1, *))
      let perClass: Double
      switch lifecycle.evidenceKind {
      case .gaussian: perClass = inputs * inputs + inputs
      case .diagonalGaussian: perClass = 2 * inputs
      default: perClass = Double(lifecycle.evidenceRank + 1) * inputs
      }
      let classesPerTask = Double(classGroups.map(\.count).max() ?? 0)
      estimate.evidenceBytes =
        4 * perClass * Double(classCount) + 8 * inputs * inputs * classesPerTask
    }
    return estimate
  }

  /// Checks the model fits in `limit` bytes (the machine's physical memory).
  ///
  /// - Throws: ``ScenarioError`` at `path` (the `model` field) giving the estimate and the
  ///   limit in GiB.
  func checkMemory(limit: Double, at path: [any CodingKey]) throws {
    let estimate = memoryEstimate
    guard estimate.bytes > limit else { return }
    func gibibytes(_ bytes: Double) -> String { String(format: "%.1f GiB", bytes / 1_073_741_824) }
    throw ScenarioError(
      at: path,
      "the model needs about \(gibibytes(estimate.bytes)) (\(estimate.experts) experts of "
        + "\(Self.count(estimate.parametersPerExpert)) parameters and a gate of "
        + "\(Self.count(estimate.gateParameters)), with their gradients and Adam's moments, "
        + "and the activations of a batch of \(estimate.batchSize)"
        + (estimate.evidenceBytes > 0
          ? ", and the evidence gate's \(gibibytes(estimate.evidenceBytes))" : "")
        + "), more than this machine's "
        + "\(gibibytes(limit)) of memory: use fewer or narrower layers, fewer experts or a "
        + "smaller batch")
  }

  /// `1234`, `56.8 M` or `4.35 G`.
  private static func count(_ value: Double) -> String {
    if value >= 1e9 { return String(format: "%.2f G", value / 1e9) }
    if value >= 1e6 { return String(format: "%.1f M", value / 1e6) }
    return String(Int(value))
  }

  /// Parameters and per-sample activations of a network, added up layer by layer.
  private struct NetworkSize {
    var parameters = 0.0
    var activations = 0.0

    /// Fully connected layers from `input` through `widths`, each followed by a ReLU.
    mutating func dense(_ input: Int, _ widths: [Int]) {
      var previous = Double(input)
      for width in widths.map(Double.init) {
        parameters += previous * width + width
        activations += 2 * width
        previous = width
      }
    }

    /// A 3×3 convolution of `input` channels into `output` over `size` output pixels, with
    /// BatchNorm when `normalised` (then no bias), ReLU and 2×2 pooling.
    mutating func convolution(_ input: Int, _ output: Int, pixels size: Int, normalised: Bool) {
      let (input, output, pixels) = (Double(input), Double(output), Double(size))
      parameters += input * output * 9 + (normalised ? 2 * output : output)
      activations += output * pixels * (normalised ? 3 : 2) + output * pixels / 4
    }
  }

  /// One expert of the scenario's kind.
  private var expertSize: NetworkSize {
    var size = NetworkSize()
    let classes = classCount
    switch model.expert.paperArchitecture {
    case .mnist:
      size.convolution(1, 1, pixels: 26 * 26, normalised: false)
      size.dense(169, [5, 32, classes])
    case .fashionMNIST:
      size.convolution(1, 1, pixels: 26 * 26, normalised: false)
      size.dense(169, [64, 32, classes])
    case .cifar100:
      size = Self.cifarTrunkSize(baseFilters: 16)
      size.dense(256, [classes])
    case nil:
      let (channels, height, width) = (sampleShape[0], sampleShape[1], sampleShape[2])
      if model.expert == .conv {
        size.convolution(
          channels, model.channels, pixels: (height - 2) * (width - 2), normalised: true)
        size.dense(
          model.channels * ((height - 2) / 2) * ((width - 2) / 2), model.hiddenWidths + [classes])
      } else {
        size.dense(channels * height * width, model.hiddenWidths + [classes])
      }
    }
    return size
  }

  /// The gate's trunk.
  private var gateSize: NetworkSize {
    var size = NetworkSize()
    switch model.expert.paperArchitecture {
    case .mnist:
      size.convolution(1, 1, pixels: 26 * 26, normalised: false)
      size.dense(169, [128, 32])
    case .fashionMNIST:
      size.convolution(1, 8, pixels: 26 * 26, normalised: true)
      size.dense(8 * 169, [512, 32])
    case .cifar100:
      size = Self.cifarTrunkSize(baseFilters: 64)
    case nil:
      size.dense(sampleShape.reduce(1, *), model.gateTrunkWidths)
    }
    return size
  }

  /// The paper's CIFAR-100 trunk: four padded 3×3 convolutions of f, 2f, 4f, 8f filters
  /// on 32×32, 16×16, 8×8, 4×4 pixels, then 8f·2·2 → 1024 → 256.
  private static func cifarTrunkSize(baseFilters f: Int) -> NetworkSize {
    var size = NetworkSize()
    var channels = 3
    for stage in 0..<4 {
      let side = 32 >> stage
      size.convolution(channels, f << stage, pixels: side * side, normalised: stage % 2 == 1)
      channels = f << stage
    }
    size.dense(channels * 4, [1024, 256])
    return size
  }
}
