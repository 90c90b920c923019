import Continual
import Foundation
import MoE
import Testing

private func result(_ method: PaperMethod, seed: UInt64, trainCorrect: Int, testCorrect: Int)
  throws -> PaperRunResult
{
  func statistics(correct: Int) throws -> RoutingStatistics {
    var statistics = RoutingStatistics(experts: 2, classes: 2)
    // Four samples, two per class, expert 0 takes class 0 and expert 1 class 1.
    let labels = [0, 0, 1, 1]
    let predictions = labels.enumerated().map { $0.offset < correct ? $0.element : 1 - $0.element }
    try statistics.add(
      gate: [0.9, 0.1, 0.8, 0.2, 0.1, 0.9, 0.3, 0.7], labels: labels, predictions: predictions,
      expertPredictions: [0, 0, 0, 0, 1, 1, 1, 1])
    return statistics
  }
  return PaperRunResult(
    method: method, seed: seed, dataset: "test", train: try statistics(correct: trainCorrect),
    test: try statistics(correct: testCorrect), secondsPerEpoch: 2, samplesPerSecond: 30000,
    epochLosses: [0.5, 0.2])
}

@Test func metricsJSONHasTheDocumentedKeys() throws {
  let data = try PaperReport.json([result(.attentive, seed: 1, trainCorrect: 4, testCorrect: 3)])
  let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  let run = try #require((root["runs"] as? [[String: Any]])?.first)
  for key in [
    "method", "seed", "train_error", "test_error", "H_s", "H_u", "class_entropy", "mi_true",
    "mi_pred", "decomposition", "dataset", "stored_samples",
  ] {
    #expect(run[key] != nil, "missing \(key)")
  }
  #expect(run["method"] as? String == "attentive")
  #expect(run["test_error"] as? Double == 0.25)
  let decomposition = try #require(run["decomposition"] as? [[Double]])
  #expect(decomposition.count == 2 && decomposition[0].count == 2)
  #expect(abs(decomposition[0][0] - 0.85) < 1e-6)
}

@Test func bestOfRulePicksTheLowestTrainingErrorAndSummaryAveragesSeeds() throws {
  let results = [
    try result(.original, seed: 1, trainCorrect: 3, testCorrect: 4),
    try result(.original, seed: 2, trainCorrect: 4, testCorrect: 2),
    try result(.single, seed: 1, trainCorrect: 2, testCorrect: 2),
  ]
  let best = PaperReport.bestOfTable(results)
  #expect(best.map(\.[0]) == ["method", "single", "original"])
  #expect(best[2][1] == "2")
  #expect(best[2][3] == "0.500")
  let summary = PaperReport.summaryTable(results)
  #expect(summary[2][3] == "0.250 ± 0.354")
}

@Test func metricsJSONWritesNonFiniteNumbersAsNull() throws {
  let object: [String: Any] = [
    "loss": Double.nan, "rates": [1.5, Double.infinity], "nested": ["f": Float.nan, "ok": 2],
  ]
  let text = String(decoding: try JSONOutput.data(object, pretty: false), as: UTF8.self)
  #expect(text == #"{"loss":null,"nested":{"f":null,"ok":2},"rates":[1.5,null]}"#)
}
