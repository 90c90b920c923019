import Checkpoints
import Continual
import Foundation

/// A sweep's `summary.md` and figure: per group of runs (same settings but the seed), the
/// main metrics' mean ± std over seeds, and for paper sweeps the paper's best-of-N rule.
///
/// Groups keep the grid order of their first run. A group with runs not yet stored counts
/// them in its `runs` column (`stored/total`); failed runs count in `failed` and add no
/// values.
public struct SweepSummary {
  /// The sweep.
  public let plan: SweepPlan
  /// The stored records, in grid order.
  public let records: [SweepRecord]

  /// The summary of `records` (any subset of `plan`'s runs).
  public init(plan: SweepPlan, records: [SweepRecord]) {
    self.plan = plan
    self.records = records
  }

  /// How many stored runs failed.
  public var failedCount: Int { records.filter { $0.status == .failed }.count }

  /// Throws when a stored run failed.
  ///
  /// - Throws: ``SweepFailedError`` naming the failed runs and `directory`.
  public func checkNoneFailed(directory: String) throws {
    let failed = records.filter { $0.status == .failed }.map(\.runID)
    guard failed.isEmpty else {
      throw SweepFailedError(failed: failed, runs: plan.runs.count, directory: directory)
    }
  }

  // MARK: - Table

  private var isPaper: Bool { plan.mode == .paper }

  /// The columns: header, value of a run's metrics, digits.
  private var columns: [(header: String, value: (RunMetrics) -> Double?, digits: Int)] {
    func paper(_ value: @escaping (PaperMetrics) -> Double) -> (RunMetrics) -> Double? {
      { if case .paper(let metrics) = $0 { value(metrics) } else { nil } }
    }
    func percent(_ value: @escaping (ContinualMetrics) -> Double?) -> (RunMetrics) -> Double? {
      { if case .continual(let metrics) = $0 { value(metrics).map { 100 * $0 } } else { nil } }
    }
    return isPaper
      ? [
        ("train error", paper(\.trainError), 4), ("test error", paper(\.testError), 4),
        ("H_u (bits)", paper(\.usageEntropy), 4),
        ("I(E;Y) pred (bits)", paper(\.mutualInformationPredicted), 4),
      ]
      : [
        ("task-IL acc (%)", percent(\.averageAccuracyTaskIL), 1),
        ("class-IL acc (%)", percent(\.averageAccuracyClassIL), 1),
        ("class-IL BWT (points)", percent(\.bwtClassIL), 1),
        ("oracle class-IL (%)", percent(\.oracleAccuracyClassIL), 1),
        ("routing acc (%)", percent(\.routingAccuracy), 1),
      ]
  }

  /// Runs per group, in grid order of each group's first run.
  private var groups: [(name: String, runs: [SweepRun], records: [SweepRecord])] {
    var order: [String] = []
    var members: [String: [(SweepRun, SweepRecord)]] = [:]
    let byIndex = Dictionary(records.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
    for run in plan.runs {
      if members[run.group] == nil { order.append(run.group) }
      if let record = byIndex[run.index] { members[run.group, default: []].append((run, record)) }
    }
    return order.map { name in
      let list = members[name] ?? []
      return (name, list.map(\.0), list.map(\.1))
    }
  }

  private static func finishedMetrics(_ records: [SweepRecord]) -> [RunMetrics] {
    records.filter { $0.status == .finished }.compactMap(\.metrics)
  }

  /// Mean ± std over seeds per group (and, for paper sweeps, the best-of-N rule), as text.
  /// The main metric of the sweep's runs (test error, or class-IL accuracy) with its unit
  /// (`""` or `"%"`), and its mean over each group's finished runs (0 where none finished),
  /// in grid order.
  public var mainMetricMeans: (name: String, unit: String, groups: [(name: String, mean: Double)]) {
    let (name, _, unit) =
      records.lazy.compactMap(\.metrics).first.map(\.main) ?? ("metric", 0, "")
    return (
      name, unit,
      groups.map { group in
        let values = Self.finishedMetrics(group.records).map(\.main.value)
        return (group.name, values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count))
      }
    )
  }

  public var table: String {
    var rows = [["group", "runs", "failed"] + columns.map(\.header)]
    for group in groups {
      let metrics = Self.finishedMetrics(group.records)
      rows.append(
        [
          group.name, "\(group.records.count)/\(group.runs.count + missing(group.name))",
          "\(group.records.count - metrics.count)",
        ]
          + columns.map { column in
            // A number written as null (NaN) adds no value, as a missing one.
            let values = metrics.compactMap(column.value).filter { !$0.isNaN }
            return values.isEmpty
              ? "–" : PaperReport.meanAndDeviation(values, digits: column.digits)
          })
    }
    var text = formatTable(rows)
    if isPaper {
      var best = [["group", "seed (lowest train error)", "train error", "test error"]]
      for group in groups {
        let finished = zip(group.runs, group.records).compactMap { run, record in
          if case .paper(let metrics) = record.metrics, record.status == .finished {
            (run, metrics)
          } else {
            nil
          }
        }
        func trainError(_ metrics: PaperMetrics) -> Double {
          metrics.trainError.isNaN ? .infinity : metrics.trainError
        }
        guard let pick = finished.min(by: { trainError($0.1) < trainError($1.1) }) else {
          continue
        }
        best.append([
          group.name, "\(pick.0.seed)", String(format: "%.4f", pick.1.trainError),
          String(format: "%.4f", pick.1.testError),
        ])
      }
      text += "\n\nThe paper's rule (per group, the seed with the lowest training error):\n"
      text += formatTable(best)
    }
    return text
  }

  /// Runs of `group` not yet stored (0 once the sweep is complete).
  private func missing(_ group: String) -> Int {
    let stored = Set(records.map(\.index))
    return plan.runs.filter { $0.group == group && !stored.contains($0.index) }.count
  }
}

/// Runs of a sweep failed, each recorded with its error in `results.jsonl`.
///
/// Running the sweep again retries only the runs that did not finish.
public struct SweepFailedError: Error, CustomStringConvertible {
  /// The ids of the failed runs, in grid order.
  public let failed: [String]
  /// The number of runs in the sweep.
  public let runs: Int
  /// The sweep's output directory.
  public let directory: String

  /// The failure of `failed` of `runs` runs, recorded in `directory`.
  public init(failed: [String], runs: Int, directory: String) {
    self.failed = failed
    self.runs = runs
    self.directory = directory
  }

  public var description: String {
    "\(failed.count) of \(runs) runs failed: \(failed.joined(separator: ", ")) (their errors are "
      + "in \(directory)/results.jsonl)\nhint: fix the cause and run the sweep again; it "
      + "retries only the runs that did not finish"
  }
}
