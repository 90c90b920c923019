import Datasets
import Foundation
import MoE

extension Scenario: Decodable {
  /// The top-level fields of a scenario file, in the order errors list them.
  enum CodingKeys: String, CodingKey, CaseIterable {
    case name, mode, dataset, split
    case evaluation = "scenario"
    case model, training, regularizers, lifecycle, checkpoint, paper
  }

  /// Reads a scenario file's fields, fills every default and checks the fields against
  /// each other.
  ///
  /// Sections are read in the order of ``CodingKeys``, so the first error is the same
  /// whatever the order of the file. An absent `checkpoint` section puts checkpoints in
  /// `checkpoints/<name>`. Beyond each field's own range, a scenario must have an expert
  /// that takes the dataset's images, a split that fits the dataset's classes, an
  /// `attention_dim` equal to the expert's d (attentive gate), a model that fits in the
  /// machine's memory, and test evaluation in `paper` mode.
  /// - Throws: ``ScenarioError`` at the field's path (with ``ScenarioDecoder``, the file's
  ///   name too).
  public init(from decoder: any Decoder) throws {
    self.init()
    let top = try decoder.container(keyedBy: CodingKeys.self)
    if let field = try top.field(.name) {
      name = try field.string()
      guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0")
      else {
        throw field.error(
          "'\(name)' cannot name the checkpoint directory checkpoints/<name>: give a "
            + "non-empty name other than '.' and '..', without '/'")
      }
    }
    mode = try top.value(Mode.self, .mode) ?? mode
    dataset = try top.value(DataSettings.self, .dataset) ?? dataset
    split = try top.value(Split.self, .split) ?? split
    evaluation = try top.value(Evaluation.self, .evaluation) ?? evaluation
    if top.contains(.model) {
      model = try top.decode(ModelSettings.self, forKey: .model)
      try checkArchitecture(
        top.nestedContainer(keyedBy: ModelSettings.CodingKeys.self, forKey: .model))
    }
    training = try top.value(TrainingSettings.self, .training) ?? training
    regularizers = try top.value(RegularizerSettings.self, .regularizers) ?? regularizers
    lifecycle = try top.value(LifecycleSettings.self, .lifecycle) ?? lifecycle
    if let field = try top.field(.checkpoint) {
      checkpoint = try CheckpointSettings(from: field, scenario: name)
    } else {
      checkpoint.directory = "checkpoints/\(name)"
    }
    paper = try top.value(PaperSettings.self, .paper) ?? paper
    let modelPath = top.codingPath + [CodingKeys.model]
    if mode == .paper, dataset.evaluateOn == .validation {
      throw ScenarioError(
        at: top.codingPath + [CodingKeys.dataset, DataSettings.CodingKeys.evaluateOn],
        "paper runs report test error: evaluate_on: validation is for continual runs")
    }
    try checkSplit(at: top.contains(.split) ? top.codingPath + [CodingKeys.split] : top.codingPath)
    if model.gate == .attentive, let dimension = model.hiddenCount,
      dimension != hiddenCount
    {
      throw ScenarioError(
        at: modelPath + [ModelSettings.CodingKeys.hiddenCount],
        "the attentive gate compares its query with the experts' hidden vectors: "
          + "attention_dim must equal the expert's hidden size \(hiddenCount)")
    }
    let inputs = sampleShape.reduce(1, *)
    if lifecycle.gate.usesEvidence, lifecycle.evidenceRank >= inputs {
      throw ScenarioError(
        at: top.codingPath + [CodingKeys.lifecycle, LifecycleSettings.CodingKeys.evidenceRank],
        "\(lifecycle.evidenceRank) directions of \(dataset.name)'s \(inputs) input values "
          + "leave no residual: the rank must be below \(inputs)")
    }
    try checkMemory(limit: Double(ProcessInfo.processInfo.physicalMemory), at: modelPath)
  }

  /// Checks that a paper architecture takes the dataset's images.
  ///
  /// - Throws: at `model.expert`, or at `model` when the section leaves the expert out.
  private func checkArchitecture(_ fields: KeyedDecodingContainer<ModelSettings.CodingKeys>)
    throws
  {
    guard let architecture = model.expert.paperArchitecture,
      architecture.inputShape != dataset.descriptor.sampleShape
    else { return }
    func shape(_ dimensions: [Int]) -> String {
      dimensions.map(String.init).joined(separator: "×")
    }
    let path =
      fields.codingPath + (fields.contains(.expert) ? [ModelSettings.CodingKeys.expert] : [])
    throw ScenarioError(
      at: path,
      "\(model.expert) takes \(shape(architecture.inputShape)) images; the dataset "
        + "\(dataset.name) has \(shape(dataset.descriptor.sampleShape))")
  }

  /// Checks the split against the dataset's classes.
  ///
  /// - Parameter path: the `split` section, or the document when it has none.
  func checkSplit(at path: [any CodingKey]) throws {
    let classes = classCount
    switch split {
    case .groups(let groups):
      let groupsPath = path + [Split.CodingKeys.groups]
      guard !groups.isEmpty else { throw ScenarioError(at: groupsPath, "needs at least one task") }
      var owner: [Int: Int] = [:]
      for (task, group) in groups.enumerated() {
        let taskPath = groupsPath + [ScenarioKey(index: task)]
        guard !group.isEmpty else {
          throw ScenarioError(at: taskPath, "task \(task) has no classes")
        }
        for (position, label) in group.enumerated() {
          let labelPath = taskPath + [ScenarioKey(index: position)]
          guard (0..<classes).contains(label) else {
            throw ScenarioError(
              at: labelPath, "class \(label) is out of range 0..<\(classes) of \(dataset.name)")
          }
          if let earlier = owner[label] {
            throw ScenarioError(
              at: labelPath,
              "class \(label) is already in task \(earlier); a class belongs to one task")
          }
          owner[label] = task
        }
      }
    case .even(let tasks, let perTask, _, _):
      guard tasks * perTask <= classes else {
        throw ScenarioError(
          at: path,
          "\(tasks) tasks × \(perTask) classes need \(tasks * perTask) classes; \(dataset.name) "
            + "has \(classes)")
      }
    }
  }
}
