import Continual
import Datasets
import Foundation
import TensorCore

/// A 6-class dataset of 1×28×28 images for tests that train without dataset files: class c
/// lights up row band c over seeded noise (all zero with `blank`, a dataset of the same
/// shape that is not the same data).
public func bands(count: Int, split: DatasetSplit, seed: UInt64, blank: Bool = false) throws
  -> Dataset
{
  var generator = RandomGenerator(seed: seed)
  var pixels: [UInt8] = []
  var labels: [UInt8] = []
  for index in 0..<count {
    let label = index % 6
    labels.append(UInt8(label))
    for pixel in 0..<784 {
      let lit = pixel / 28 / 4 == label
      pixels.append(blank ? 0 : lit ? 220 : UInt8(generator.next() % 60))
    }
  }
  return try Dataset(
    name: "bands", split: split, sampleShape: [1, 28, 28], pixels: pixels, labels: labels,
    classCount: 6, mean: [0.2], standardDeviation: [0.3])
}

/// A three-task spawn-and-freeze scenario small enough to train in a fraction of a second
/// on ``tinyStream(for:blank:)``.
public func tinyScenario() throws -> Scenario {
  try Scenario.parse(
    Data(
      """
      {"name": "tiny", "split": {"groups": [[0, 1], [2, 3], [4, 5]]},
       "model": {"expert": "mlp", "experts": 1, "gate": "attentive", "hidden": [8]},
       "training": {"epochs": 1, "batch_size": 16, "seed": 1,
                    "optimizer": {"name": "adam", "learning_rate": 0.01}},
       "lifecycle": {"policy": "spawn-and-freeze", "gate": "replay", "replay_samples": 12}}
      """.utf8), file: "tiny.json")
}

/// The task stream of `scenario` over 60 training and 24 test ``bands(count:split:seed:blank:)``
/// images.
public func tinyStream(for scenario: Scenario, blank: Bool = false) throws -> TaskStream {
  TaskStream(
    train: try bands(count: 60, split: .train, seed: 1, blank: blank),
    test: try bands(count: 24, split: .test, seed: 2, blank: blank),
    classGroups: scenario.classGroups, validationFraction: 0.1, seed: 3)
}

/// Writes `tiny.json`, a two-task continual scenario with a small MLP expert, and
/// `sweep.json`, that scenario × two policies (spawn-and-freeze, shared) × two seeds, into
/// `directory`; returns the sweep file's path. Run it on ``bands(count:split:seed:blank:)``.
public func writeTinySweep(into directory: String) throws -> String {
  try """
  {"name": "tiny", "dataset": {"name": "fashion-mnist", "validation_fraction": 0.1},
   "split": {"groups": [[0, 1], [2, 3]]},
   "model": {"expert": "mlp", "experts": 1, "gate": "attentive", "hidden": [8]},
   "training": {"epochs": 1, "batch_size": 16, "seed": 1,
                "optimizer": {"name": "adam", "learning_rate": 0.01}},
   "lifecycle": {"policy": "spawn-and-freeze", "gate": "replay", "replay_samples": 12}}
  """.write(toFile: directory + "/tiny.json", atomically: true, encoding: .utf8)
  let sweep = directory + "/sweep.json"
  try """
  {"scenario": "tiny.json", "axes": {"policy": ["spawn-and-freeze", "shared"], "seed": [0, 1]}}
  """.write(toFile: sweep, atomically: true, encoding: .utf8)
  return sweep
}
