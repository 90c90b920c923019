/// The version of ExpertStream: what `expertstream --version` prints and what checkpoints
/// record as their writer's version.
public enum ExpertStreamVersion {
  /// The current version, such as `0.4.0`.
  public static let current = "0.4.0"
}
