import Datasets
import ExpertStreamCLI
import Foundation
import Testing
import _TestSupport

@Test func dataListShowsEveryDatasetAndWhatToDo() throws {
  let empty = try TemporaryDirectory()
  let result = runTool(["data", "list", "--data-dir", empty.url.path])
  #expect(result.status == 0)
  for name in ["fashion-mnist:", "mnist:", "cifar100:"] { #expect(result.output.contains(name)) }
  #expect(result.output.contains("to get it:"))
  #expect(result.output.contains("not usable from --data-dir \(empty.url.path): holds no mnist"))
}

@Test func dataFetchOfAnUnknownDatasetIsAUsageError() {
  let result = runTool(["data", "fetch", "mnsit"])
  #expect(result.status == 2)
  #expect(result.error.contains("unknown dataset 'mnsit'"))
}

@Test func scenarioCheckShowsTheResolvedStream() throws {
  let directory = try TemporaryDirectory()
  let path = directory.url.appendingPathComponent("s.json").path
  try #"{"name": "s", "split": {"groups": [[3, 1], [0]]}}"#.write(
    toFile: path, atomically: true, encoding: .utf8)
  let result = runTool(["scenario", "check", path, "--set", "training.epochs=2"])
  #expect(result.status == 0, "\(result.error)")
  #expect(result.output.contains("task 0: 3 Dress, 1 Trouser"))
  #expect(result.output.contains("task 1: 0 T-shirt/top"))
  #expect(result.output.contains("scenario hash"))
}

@Test func badScenariosExitWithCode2NamingFileAndField() throws {
  let directory = try TemporaryDirectory()
  let path = directory.url.appendingPathComponent("bad.json").path
  try #"{"split": {"groups": [[0, 10]]}}"#.write(toFile: path, atomically: true, encoding: .utf8)
  for command in [["scenario", "check", path], ["run", path]] {
    let result = runTool(command)
    #expect(result.status == 2)
    #expect(result.error.contains("\(path): split.groups[0][1]: class 10 is out of range"))
  }
  let missing = runTool(["run", directory.url.appendingPathComponent("absent.json").path])
  #expect(missing.status == 2 && missing.error.contains("no such file"))
  let override = runTool([
    "scenario", "check", path, "--set", "split.groups=[[0]]", "--set", "modell.gate=x",
  ])
  #expect(override.status == 2 && override.error.contains("did you mean 'model'"))
}

@Test func runOfAPaperScenarioOnGeneratedMNISTWritesMetrics() throws {
  let directory = try TemporaryDirectory()
  let data = directory.url.appendingPathComponent("mnist").path
  try writeGeneratedMNIST(in: data, perClass: 12)
  let metrics = directory.url.appendingPathComponent("out/metrics.json").path
  let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../tasks/paper-mnist.json").standardized.path
  let result = runTool([
    "run", tasks, "--data-dir", data, "--method", "original,attentive", "--seeds", "2",
    "--set", "training.epochs=1", "--set", "training.batch_size=32", "--metrics-json", metrics,
  ])
  #expect(result.status == 0, "\(result.error)")
  #expect(result.output.contains("The paper's rule"))
  let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metrics)))
  let runs = (root as? [String: Any])?["runs"] as? [[String: Any]]
  #expect(runs?.count == 4)
  #expect(
    runs?.map { $0["method"] as? String } == ["original", "attentive", "original", "attentive"])
  let decomposition = runs?.first?["decomposition"] as? [[Double]]
  #expect(decomposition?.count == 5 && decomposition?.first?.count == 10)
}

@Test func runRejectsAnUnknownMethod() {
  let result = runTool(["run", "tasks/paper-mnist.json", "--method", "atentive"])
  #expect(result.status == 2)
  #expect(result.error.contains("did you mean 'attentive'"))
}

/// Small MNIST-format files under the official names: digits drawn as a horizontal stroke
/// whose height gives the class, over noise.
func writeGeneratedMNIST(in directory: String, perClass: Int) throws {
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  var generator = SplitMix(seed: 1)
  for (prefix, count) in [("train", perClass * 10), ("t10k", perClass * 5)] {
    var pixels: [UInt8] = []
    var labels: [UInt8] = []
    for index in 0..<count {
      let label = index % 10
      labels.append(UInt8(label))
      for pixel in 0..<784 {
        let (y, x) = (pixel / 28, pixel % 28)
        let stroke = abs(y - 4 - 2 * label) < 2 && x > 6 && x < 22
        pixels.append(stroke ? 200 : UInt8(generator.next() % 40))
      }
    }
    try Data(gzipCompress(IDXArray.encode(pixels, dimensions: [count, 28, 28])))
      .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-images-idx3-ubyte.gz"))
    try Data(gzipCompress(IDXArray.encode(labels, dimensions: [count])))
      .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-labels-idx1-ubyte.gz"))
  }
}

struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
}

@Test func badDatasetFilesExitWithCode2NamingFileAndOffset() throws {
  let directory = try TemporaryDirectory()
  let data = directory.url.appendingPathComponent("mnist").path
  try writeGeneratedMNIST(in: data, perClass: 2)
  // Cut the training images short: the header declares more bytes than the file has.
  let images = "\(data)/train-images-idx3-ubyte.gz"
  let bytes = try gzipCompress(Array(readIDX(images).dropLast(100)))
  try Data(bytes).write(to: URL(fileURLWithPath: images))
  let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../tasks/paper-mnist.json").standardized.path
  let result = runTool(["run", tasks, "--data-dir", data, "--method", "original"])
  #expect(result.status == 2)
  #expect(result.error.contains("\(images): byte offset"))
  #expect(result.error.contains("truncated"))
  let empty = directory.path("empty")
  try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
  let missing = runTool(["run", tasks, "--data-dir", empty])
  #expect(missing.status == 2)
  #expect(
    missing.error.contains(
      "--data-dir \(empty): holds no mnist files, nor does its sub-directory mnist"))
  let none = directory.path("none")
  let mistyped = runTool(["run", tasks, "--data-dir", none])
  #expect(mistyped.status == 2)
  #expect(
    mistyped.error.contains(
      "--data-dir \(none): no such directory; give a directory that holds the dataset"))
}

/// The decompressed bytes of a `.gz` file.
private func readIDX(_ path: String) throws -> [UInt8] {
  let array = try IDXArray(contentsOf: path, rank: 3)
  return IDXArray.encode(array.bytes, dimensions: array.dimensions)
}
