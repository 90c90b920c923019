import Continual
import Foundation

/// The metrics of one run of a sweep: a continual run's or a paper run's.
///
/// Read back, an object with `test_error` is a paper run's, anything else a continual
/// run's.
public enum RunMetrics: Codable, Sendable, Equatable {
  /// A continual run's.
  case continual(ContinualMetrics)
  /// A paper run's.
  case paper(PaperMetrics)

  /// The same metrics without the timings (see ``timing``): what a sweep record keeps
  /// under `metrics`, equal whatever the machine, rank or interruption.
  public var withoutTiming: RunMetrics {
    switch self {
    case .continual(var metrics):
      metrics.trainingSeconds = nil
      return .continual(metrics)
    case .paper(var metrics):
      (metrics.secondsPerEpoch, metrics.samplesPerSecond) = (nil, nil)
      return .paper(metrics)
    }
  }

  /// The timings: seconds per task (continual), seconds per epoch and samples per second
  /// (paper).
  public var timing: RunTiming {
    switch self {
    case .continual(let metrics): return RunTiming(trainingSeconds: metrics.trainingSeconds)
    case .paper(let metrics):
      return RunTiming(
        secondsPerEpoch: metrics.secondsPerEpoch, samplesPerSecond: metrics.samplesPerSecond)
    }
  }

  /// The metric a sweep is judged by: test error for paper runs, class-IL average accuracy
  /// in % for continual runs; its name, value and unit (`""` or `" %"`).
  ///
  /// A continual run's class-IL accuracy that is not a number (written `null`) falls back
  /// to its task-IL accuracy.
  public var main: (name: String, value: Double, unit: String) {
    switch self {
    case .paper(let metrics): return ("test error", metrics.testError, "")
    case .continual(let metrics):
      guard metrics.averageAccuracyClassIL.isNaN else {
        return ("class-IL accuracy", 100 * metrics.averageAccuracyClassIL, " %")
      }
      return ("task-IL accuracy", 100 * metrics.averageAccuracyTaskIL, " %")
    }
  }

  public init(from decoder: Decoder) throws {
    enum Probe: String, CodingKey { case testError = "test_error" }
    let container = try decoder.singleValueContainer()
    self =
      try decoder.container(keyedBy: Probe.self).contains(.testError)
      ? .paper(container.decode(PaperMetrics.self))
      : .continual(container.decode(ContinualMetrics.self))
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .continual(let metrics): try container.encode(metrics)
    case .paper(let metrics): try container.encode(metrics)
    }
  }
}

/// The timings of a run, kept apart from its metrics; absent fields are not written.
public struct RunTiming: Codable, Sendable, Equatable {
  /// Seconds each task trained (continual runs).
  public var trainingSeconds: [Double]?
  /// Seconds per training epoch (paper runs).
  public var secondsPerEpoch: Double?
  /// Training samples per second (paper runs).
  public var samplesPerSecond: Double?

  /// Timings with the given fields.
  public init(
    trainingSeconds: [Double]? = nil, secondsPerEpoch: Double? = nil,
    samplesPerSecond: Double? = nil
  ) {
    self.trainingSeconds = trainingSeconds
    self.secondsPerEpoch = secondsPerEpoch
    self.samplesPerSecond = samplesPerSecond
  }

  enum CodingKeys: String, CodingKey {
    case trainingSeconds = "training_seconds"
    case secondsPerEpoch = "seconds_per_epoch"
    case samplesPerSecond = "samples_per_second"
  }
}

/// How one run of a sweep ended, as `records/<id>.json` and a line of `results.jsonl` hold
/// it: its settings, status, metrics (without timings), timings, error and seconds.
///
/// A failed run has an `error` and no `metrics` or `timing`.
public struct SweepRecord: Codable, Sendable, Equatable {
  /// Whether the run finished.
  public enum Status: String, Codable, Sendable {
    case finished, failed
  }

  /// The settings that define a run: seed, method or policy, named variant and axis values.
  public struct Settings: Codable, Sendable, Equatable {
    /// `training.seed`.
    public var seed: Int
    /// The paper method or lifecycle policy.
    public var variant: String
    /// The sweep's named variant, if the run belongs to one.
    public var configuration: String?
    /// The axis values other than method, policy and seed, as JSON text by field.
    public var set: [String: String]

    /// The settings of `run`.
    public init(_ run: SweepRun) {
      seed = run.seed
      variant = run.variant
      configuration = run.configuration
      set = Dictionary(uniqueKeysWithValues: run.axisValues.map { ($0.field, $0.value) })
    }
  }

  /// The run's id (``SweepRun/id``).
  public var runID: String
  /// The run's position in the grid.
  public var index: Int
  /// What defines the run.
  public var settings: Settings
  /// Whether it finished.
  public var status: Status
  /// The metrics without timings; `nil` when the run failed.
  public var metrics: RunMetrics?
  /// The timings; `nil` when the run failed.
  public var timing: RunTiming?
  /// Why the run failed; `nil` when it finished.
  public var error: String?
  /// Wall-clock seconds the run took.
  public var seconds: Double

  enum CodingKeys: String, CodingKey {
    case runID = "run_id"
    case index, settings, status, metrics, timing, error, seconds
  }

  /// The record of `run` that finished with `metrics` (their timings go under `timing`).
  public init(finished run: SweepRun, metrics: RunMetrics, seconds: Double) {
    self.init(run, status: .finished, seconds: seconds)
    self.metrics = metrics.withoutTiming
    timing = metrics.timing
  }

  /// The record of `run` that failed with `error`.
  public init(failed run: SweepRun, error: Error, seconds: Double) {
    self.init(run, status: .failed, seconds: seconds)
    self.error = "\(error)"
  }

  private init(_ run: SweepRun, status: Status, seconds: Double) {
    runID = run.id
    index = run.index
    settings = Settings(run)
    self.status = status
    self.seconds = seconds
  }

  /// How the run ended, for people: `finished in 1.2 s, class-IL accuracy 65.7 %` (the
  /// main metric, see ``RunMetrics/main``), or `FAILED after 1.2 s: ` and the error.
  public var outcome: String {
    guard status == .finished, let (name, value, unit) = metrics?.main else {
      return "FAILED after \(String(format: "%.1f s", seconds)): \(error ?? "")"
    }
    return String(
      format: "finished in %.1f s, %@ %@%@", seconds, name,
      String(format: unit.isEmpty ? "%.4f" : "%.1f", value), unit)
  }

  /// The record as one line of compact JSON with sorted keys (no newline).
  public func line() throws -> Data {
    try JSONOutput.data(encoding: self, pretty: false)
  }

  /// The record in `data` (one line of `results.jsonl`, or a record file).
  ///
  /// - Throws: `DecodingError` when `data` is not a record.
  public init(json data: Data) throws {
    self = try JSONDecoder().decode(SweepRecord.self, from: data)
  }
}
