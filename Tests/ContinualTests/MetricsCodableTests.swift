import Continual
import Foundation
import MoE
import Testing
import _ContinualTestSupport

/// A tiny run's result: three tasks, spawn-and-freeze.
private func tinyResult() throws -> ContinualResult {
  let scenario = try tinyScenario()
  return try ContinualRun(scenario: scenario, stream: tinyStream(for: scenario)).run()
}

@Test func continualMetricsRoundTripThroughTheirJSON() throws {
  let metrics = try tinyResult().metrics
  let data = try JSONOutput.data(encoding: metrics, pretty: true)
  let decoded = try JSONDecoder().decode(ContinualMetrics.self, from: data)
  #expect(decoded == metrics)
  // Written again, the same bytes.
  #expect(try JSONOutput.data(encoding: decoded, pretty: true) == data)
  let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  #expect(object["routing_accuracy"] is Double)
  #expect(object["training_seconds"] is [Double])
  #expect((object["experts"] as? [[String: Any]])?.first?["frozen_at_task"] is Int)
}

@Test func aBaselineWritesNullRoutingAndNoTimingWhenRemoved() throws {
  var metrics = try tinyResult().metrics
  metrics.routingAccuracy = nil
  metrics.routingAccuracyPerTask = nil
  metrics.trainingSeconds = nil
  metrics.experts[0].frozenAtTask = nil
  let object = try #require(try JSONOutput.tree(metrics) as? [String: Any])
  #expect(object["routing_accuracy"] is NSNull)
  #expect(object["routing_accuracy_per_task"] is NSNull)
  #expect(object["training_seconds"] == nil)
  #expect((object["experts"] as? [[String: Any]])?.first?["frozen_at_task"] is NSNull)
  let data = try JSONOutput.data(encoding: metrics, pretty: false)
  #expect(try JSONDecoder().decode(ContinualMetrics.self, from: data) == metrics)
}

@Test func nonFiniteNumbersAreWrittenAsNullAndReadBackAsNaN() throws {
  var metrics = try tinyResult().metrics
  metrics.averageAccuracyClassIL = .nan
  metrics.decompositions[0][0][0] = .infinity
  let data = try JSONOutput.data(encoding: metrics, pretty: false)
  let text = String(decoding: data, as: UTF8.self)
  #expect(text.contains(#""average_accuracy_class_il":null"#))
  #expect(text.contains(#""decompositions":[[[null"#))
  let decoded = try JSONDecoder().decode(ContinualMetrics.self, from: data)
  #expect(decoded.averageAccuracyClassIL.isNaN)
  #expect(decoded.decompositions[0][0][0].isNaN)
}

@Test func theTreeKeepsNumbersAsTheDictionaryWriterWritesThem() throws {
  struct Numbers: Encodable {
    let integer = 3
    let unsigned: UInt64 = 7
    let whole = 2.0
    let negativeZero = -0.0
    let large = 1.2345678901234567e19
    let single: Float = 0.1
    let flag = true
    let none: Int? = nil
  }
  let encoded = try JSONOutput.data(encoding: Numbers(), pretty: false)
  let dictionary: [String: Any] = [
    "integer": 3, "unsigned": UInt64(7), "whole": 2.0, "negativeZero": -0.0,
    "large": 1.2345678901234567e19, "single": Double(Float(0.1)), "flag": true,
  ]
  #expect(encoded == (try JSONOutput.data(dictionary, pretty: false)))
}

@Test func paperMetricsRoundTripWithAndWithoutTimings() throws {
  var statistics = RoutingStatistics(experts: 2, classes: 2)
  try statistics.add(
    gate: [0.9, 0.1, 0.2, 0.8], labels: [0, 1], predictions: [0, 0],
    expertPredictions: [0, 1, 0, 1])
  let result = PaperRunResult(
    method: .attentive, seed: 2, dataset: "test", train: statistics, test: statistics,
    secondsPerEpoch: 1.5,
    samplesPerSecond: 400, epochLosses: [0.7, 0.4])
  var metrics = PaperMetrics(result)
  for _ in 0..<2 {
    let data = try JSONOutput.data(encoding: metrics, pretty: true)
    #expect(try JSONDecoder().decode(PaperMetrics.self, from: data) == metrics)
    metrics.secondsPerEpoch = nil
    metrics.samplesPerSecond = nil
  }
  let object = try #require(try JSONOutput.tree(metrics) as? [String: Any])
  #expect(object["seconds_per_epoch"] == nil && object["H_u"] is Double)
}
