import Foundation
import MoE
import TensorCore

/// Tables and JSON of paper-style results: per run, and per method as mean ± std over
/// seeds and under the paper's rule (the seed with the lowest training error).
public enum PaperReport {
  /// `{"runs": [...]}` with sorted keys, pretty-printed.
  public static func json(_ results: [PaperRunResult]) throws -> Data {
    try JSONOutput.data(encoding: ["runs": results.map(PaperMetrics.init)], pretty: true)
  }

  /// The metric columns of the tables: header and value of a run.
  static let columns: [(String, (PaperRunResult) -> Double)] = [
    ("train err", { $0.train.error }),
    ("test err", { $0.test.error }),
    ("I(E;Y) pred", { $0.test.mutualInformationPredicted }),
    ("I(E;Y) true", { $0.test.mutualInformationTrue }),
    ("H_s", { $0.test.sampleEntropy }),
    ("H_u", { $0.test.usageEntropy }),
    ("class H", { $0.test.classEntropy }),
  ]

  /// One row per method: mean ± std over its seeds of every metric (entropies and
  /// information in bits), then the seconds per epoch.
  public static func summaryTable(_ results: [PaperRunResult]) -> [[String]] {
    var rows = [["method", "seeds"] + columns.map(\.0) + ["s/epoch"]]
    for method in methods(in: results) {
      let runs = results.filter { $0.method == method }
      var row = [method.rawValue, "\(runs.count)"]
      for (_, value) in columns {
        row.append(meanAndDeviation(runs.map(value), digits: 3))
      }
      row.append(meanAndDeviation(runs.map(\.secondsPerEpoch), digits: 1))
      rows.append(row)
    }
    return rows
  }

  /// One row per method: the seed with the lowest training error (the paper's rule) and
  /// its metrics, with the standard deviation of test error across seeds.
  public static func bestOfTable(_ results: [PaperRunResult]) -> [[String]] {
    var rows = [["method", "best seed"] + columns.map(\.0) + ["test err std"]]
    for method in methods(in: results) {
      let runs = results.filter { $0.method == method }
      guard let best = runs.min(by: { $0.train.error < $1.train.error }) else { continue }
      var row = [method.rawValue, "\(best.seed)"]
      row += columns.map { String(format: "%.3f", $0.1(best)) }
      row.append(String(format: "%.3f", standardDeviation(runs.map(\.test.error))))
      rows.append(row)
    }
    return rows
  }

  /// The comparison's results for people, after a blank line: the mean ± std table over
  /// `seeds` seeds, the paper's best-of table, and per method of `methods` its chosen run's
  /// p(expert | class) on the test set, a column per class name.
  ///
  /// A method without runs in `results` gets no decomposition table.
  public static func summaryText(
    _ results: [PaperRunResult], methods: [PaperMethod], seeds: Int, classNames: [String]
  ) -> String {
    var lines = [
      "", "Mean ± std over \(seeds) seed(s); entropies and I(E;Y) in bits, errors as fractions:",
      formatTable(summaryTable(results)), "",
      "The paper's rule (per method, the seed with the lowest training error):",
      formatTable(bestOfTable(results)),
    ]
    for method in methods {
      guard let (seed, rows) = decompositionTable(results, method: method, classNames: classNames)
      else { continue }
      lines += [
        "", "\(method.rawValue), seed \(seed): p(expert | class) on the test set",
        formatTable(rows),
      ]
    }
    return lines.joined(separator: "\n")
  }

  /// p(expert | class) on the test set of `method`'s run with the lowest training error (the
  /// paper's rule): its seed and the table, one row per expert, a column per class name.
  ///
  /// `nil` when `results` hold no run of `method`.
  static func decompositionTable(
    _ results: [PaperRunResult], method: PaperMethod, classNames: [String]
  ) -> (seed: UInt64, rows: [[String]])? {
    guard
      let best = results.filter({ $0.method == method }).min(by: {
        $0.train.error < $1.train.error
      })
    else { return nil }
    var rows = [["expert"] + classNames]
    for (expert, row) in best.test.decomposition.enumerated() {
      rows.append(["\(expert)"] + row.map { String(format: "%.2f", $0) })
    }
    return (best.seed, rows)
  }

  /// The methods present, in the order of ``PaperMethod/allCases``.
  static func methods(in results: [PaperRunResult]) -> [PaperMethod] {
    PaperMethod.allCases.filter { method in results.contains { $0.method == method } }
  }

  /// "m ± s" (or "m" for one value).
  public static func meanAndDeviation(_ values: [Double], digits: Int) -> String {
    let mean = values.reduce(0, +) / Double(max(values.count, 1))
    let format = "%.\(digits)f"
    guard values.count > 1 else { return String(format: format, mean) }
    return String(format: format, mean) + " ± " + String(format: format, standardDeviation(values))
  }

  /// The sample standard deviation (÷ (n − 1)); 0 for fewer than two values.
  public static func standardDeviation(_ values: [Double]) -> Double {
    guard values.count > 1 else { return 0 }
    let mean = values.reduce(0, +) / Double(values.count)
    let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    return (squares / Double(values.count - 1)).squareRoot()
  }
}
