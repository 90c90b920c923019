extension SweepPlan {
  // MARK: - Listing

  /// The runs as table rows (after a header): number, id, method or policy, seed, and the
  /// named variant and axis values.
  public var table: [[String]] {
    [["#", "run id", mode == .paper ? "method" : "policy", "seed", "settings"]]
      + runs.map { run in
        [
          "\(run.index + 1)", run.id, run.variant, "\(run.seed)",
          ([run.configuration.map { "variant \($0)" }].compactMap { $0 }
            + run.axisValues.map { "\($0.field)=\($0.value)" }).joined(separator: " "),
        ]
      }
  }
}
