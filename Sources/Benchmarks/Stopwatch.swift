import Foundation

/// Times a closure: one warm-up call, then the median of five trials, each repeating the
/// closure for at least ``trialSeconds``.
///
/// A closure slower than a trial runs once per trial; the warm-up is never timed.
public struct Stopwatch: Sendable {
  /// The shortest time a trial repeats the closure for.
  public let trialSeconds: Double

  /// A stopwatch with trials of at least `trialSeconds`.
  public init(trialSeconds: Double) {
    self.trialSeconds = trialSeconds
  }

  /// The median seconds per call of `body`.
  ///
  /// - Throws: what `body` throws (timing stops there).
  public func seconds(_ body: () throws -> Void) throws -> Double {
    try body()
    var trials: [Double] = []
    for _ in 0..<5 {
      var calls = 0
      let start = DispatchTime.now().uptimeNanoseconds
      var elapsed = 0.0
      repeat {
        try body()
        calls += 1
        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      } while elapsed < trialSeconds
      trials.append(elapsed / Double(calls))
    }
    return trials.sorted()[2]
  }
}
