import MoE

/// What an expert factory knows when a run asks it for a new expert: the scenario and the
/// sizes it implies, and the task the expert is made for.
///
/// A factory reads every size from here, so one expert type serves every scenario: the
/// input is ``sampleShape`` ([C, H, W], ``inputCount`` values flattened), the output scores
/// ``classCount`` classes, and with an attentive gate the hidden vector h_i must have
/// ``hiddenCount`` values.
public struct ExpertContext: Sendable {
  /// The scenario being run (its `model` section holds the widths a kind may read).
  public let scenario: Scenario
  /// The task the expert is made for: 0 for the experts a run starts with, the task being
  /// started for a spawned one, the recorded spawn task when a checkpoint is restored.
  public let task: Int

  /// The context of an expert made for `task` of `scenario`.
  public init(scenario: Scenario, task: Int) {
    self.scenario = scenario
    self.task = task
  }

  /// One sample's shape, [C, H, W].
  public var sampleShape: [Int] { scenario.sampleShape }
  /// The number of values in one sample: the product of ``sampleShape``.
  public var inputCount: Int { sampleShape.reduce(1, *) }
  /// K, the number of classes the expert scores.
  public var classCount: Int { scenario.classCount }
  /// d, the size of the expert's hidden vector h_i that the scenario implies: the attentive
  /// gate's attention dimension (the last `model.hidden` width for kinds other than the
  /// paper's).
  public var hiddenCount: Int { scenario.hiddenCount }
}
