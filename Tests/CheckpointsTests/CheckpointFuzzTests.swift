import Checkpoints
import Continual
import Foundation
import TensorCore
import Testing
import _TestSupport

/// One dataset of a checkpoint: its object path, shape and values as stored.
private struct StoredDataset {
  enum Values {
    case floats([Float])
    case doubles([Double])
    case integers([Int64])
  }

  var path: String
  var shape: [Int]
  var values: Values

  /// The group's path and the dataset's name.
  var parent: String { String(path[..<path.lastIndex(of: "/")!]) }
  var name: String { String(path[path.index(after: path.lastIndex(of: "/")!)...]) }

  var rawBytes: Data {
    switch values {
    case .floats(let values): return values.withUnsafeBytes { Data($0) }
    case .doubles(let values): return values.withUnsafeBytes { Data($0) }
    case .integers(let values): return values.withUnsafeBytes { Data($0) }
    }
  }

  /// The values as float64, to write them back as another type or with another shape.
  var asDoubles: [Double] {
    switch values {
    case .floats(let values): return values.map(Double.init)
    case .doubles(let values): return values
    case .integers(let values): return values.map(Double.init)
    }
  }

  /// Writes `values` into `group` as dataset `name` of `shape`, in the stored type.
  func write(_ values: [Double], shape: [Int], into group: HDF5Group) throws {
    switch self.values {
    case .floats: try group.write(name, floats: values.map(Float.init), shape: shape)
    case .doubles: try group.write(name, doubles: values, shape: shape)
    case .integers: try group.write(name, integers: values.map { Int64($0) }, shape: shape)
    }
  }

  /// Overwrites the dataset in the file at `file` in place, as `f[path][...] = values` does,
  /// with the value at `index` changed to a neighbouring one of the same type (the next
  /// float up, 0 for a NaN; an integer with its lowest bit flipped).
  func overwriteChangingOne(at index: Int, in file: String) {
    switch values {
    case .floats(var values):
      values[index] = values[index].isNaN ? 0 : values[index].nextUp
      overwriteDataset(in: file, path, values: values)
    case .doubles(var values):
      values[index] = values[index].isNaN ? 0 : values[index].nextUp
      overwriteDataset(in: file, path, values: values)
    case .integers(var values):
      values[index] ^= 1
      overwriteDataset(in: file, path, values: values)
    }
  }

  /// Deletes the dataset in the file at `file` and creates it again with the same values in
  /// other chunks, without a checksum filter (see ``otherChunks(of:)``).
  func recreateInOtherChunks(in file: String) {
    let chunk = otherChunks(of: shape)
    switch values {
    case .floats(let values):
      recreateDataset(in: file, path, values: values, shape: shape, chunk: chunk)
    case .doubles(let values):
      recreateDataset(in: file, path, values: values, shape: shape, chunk: chunk)
    case .integers(let values):
      recreateDataset(in: file, path, values: values, shape: shape, chunk: chunk)
    }
  }

  /// Writes the same values as another type.
  func writeAsOtherType(into group: HDF5Group) throws {
    switch values {
    case .floats(let values):
      try group.write(name, doubles: values.map(Double.init), shape: shape)
    case .doubles(let values): try group.write(name, floats: values.map(Float.init), shape: shape)
    case .integers(let values):
      try group.write(name, doubles: values.map(Double.init), shape: shape)
    }
  }
}

/// Every dataset under `group`, depth first.
private func storedDatasets(in group: HDF5Group) throws -> [StoredDataset] {
  var result: [StoredDataset] = []
  for name in try group.memberNames() {
    if let child = try? group.existingGroup(name) {
      result += try storedDatasets(in: child)
      continue
    }
    let path = group.path == "/" ? "/" + name : group.path + "/" + name
    if let (shape, values) = try? group.readFloats(name, exactType: true) {
      result.append(StoredDataset(path: path, shape: shape, values: .floats(values)))
    } else if let (shape, values) = try? group.readDoubles(name, exactType: true) {
      result.append(StoredDataset(path: path, shape: shape, values: .doubles(values)))
    } else {
      let (shape, values) = try group.readIntegers(name, exactType: true)
      result.append(StoredDataset(path: path, shape: shape, values: .integers(values)))
    }
  }
  return result
}

/// What reading a mutant gave on one path.
private enum Outcome {
  /// A thrown error whose message names the mutant's file.
  case rejected
  /// The same result as the unmodified file.
  case identical
  /// Another result.
  case differs
}

/// Counts per category and outcome, printed at the end.
private struct Tally {
  var counts: [String: [String: Int]] = [:]
  var order: [String] = []

  mutating func add(_ category: String, summary: Outcome, resume: Outcome) {
    if counts[category] == nil { order.append(category) }
    counts[category, default: [:]]["mutants", default: 0] += 1
    counts[category, default: [:]]["inspect \(summary)", default: 0] += 1
    counts[category, default: [:]]["resume \(resume)", default: 0] += 1
  }

  var report: String {
    order.map { category in
      let row = counts[category]!
      return "\(category): \(row["mutants"]!) mutants; "
        + row.keys.filter { $0 != "mutants" }.sorted().map { "\($0) \(row[$0]!)" }
        .joined(separator: ", ")
    }.joined(separator: "\n")
  }
}

/// Checkpoint fuzzing: hundreds of damaged and edited copies of a real checkpoint, each read
/// in-process by the inspect path (`Checkpoint.summary`) and the resume path
/// (`Checkpoint.restore` of a fresh run). A crash kills the test runner. Every outcome must
/// be an error naming the file, or the unmodified file's result; only `inspect` of an
/// expert's edited tensor may show the edit (it has no model to compare shapes with). Since
/// checkpoints carry `content_sha256`, every edit through the HDF5 API is refused, valid
/// values included, except the same values stored in other chunks, which read identically.
@Test func checkpointFuzzNeverCrashesAndRejectsOrReproduces() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let template = try tinyRun()
  func freshRun() throws -> ContinualRun {
    try ContinualRun(scenario: template.scenario, stream: template.stream)
  }
  let expectedSummary = fingerprint(try Checkpoint.summary(of: original))
  let resumed = try freshRun()
  try Checkpoint.restore(resumed, from: original)
  let expectedState = fingerprint(resumed.state)
  let bytes = try Data(contentsOf: URL(fileURLWithPath: original))
  let datasets = try storedDatasets(in: HDF5File.open(original).root)
  #expect(datasets.count > 50)

  var tally = Tally()
  var serial = 0
  func read(_ path: String, _ body: () throws -> String, expected: String) -> Outcome {
    do {
      return try body() == expected ? .identical : .differs
    } catch {
      #expect("\(error)".contains(path), "an error that does not name the file: \(error)")
      return .rejected
    }
  }
  /// Reads the mutant at `path` both ways and checks the outcomes; `edited` is the object
  /// an edit changed, `detail` where damage was done.
  func check(_ category: String, _ path: String, edited: String? = nil, detail: String = "")
    throws
  {
    let summary = read(
      path, { fingerprint(try Checkpoint.summary(of: path)) }, expected: expectedSummary)
    let resume = read(
      path,
      {
        let run = try freshRun()
        try Checkpoint.restore(run, from: path)
        return fingerprint(run.state)
      }, expected: expectedState)
    let expertTensor =
      edited.map { $0.hasPrefix("/model/experts/") && !$0.hasSuffix("/classes") } ?? false
    let mutant = "\(category) \(path) \(edited ?? detail)"
    #expect(summary != .differs || expertTensor, "inspect accepted \(mutant)")
    #expect(resume != .differs, "resume accepted \(mutant)")
    tally.add(category, summary: summary, resume: resume)
    try FileManager.default.removeItem(atPath: path)
  }
  func mutantPath() -> String {
    serial += 1
    return directory.path("mutant_\(serial).h5")
  }
  func damaged(_ change: (inout Data) -> Void) throws -> String {
    var copy = bytes
    change(&copy)
    let path = mutantPath()
    try copy.write(to: URL(fileURLWithPath: path))
    return path
  }
  func edited(_ edit: (HDF5Group) throws -> Void) throws -> String {
    let path = mutantPath()
    try bytes.write(to: URL(fileURLWithPath: path))
    let file = try HDF5File.open(path, writable: true)
    try edit(file.root)
    return path
  }

  var generator = RandomGenerator(seed: 2026)
  func random(_ bound: Int) -> Int { Int(generator.next() % UInt64(bound)) }

  // Truncations: evenly spread, then at random offsets.
  for cut in (1...100).map({ bytes.count * $0 / 101 }) + (0..<20).map({ _ in random(bytes.count) })
  {
    try check("truncation", try damaged { $0 = $0.prefix(cut) }, detail: "at byte \(cut)")
  }

  // Bit flips inside datasets' stored values (located by their bytes), and elsewhere: the
  // superblock, object headers with attributes, group indices, heaps, checksums.
  let dataRanges = datasets.filter { $0.rawBytes.count >= 16 }.compactMap {
    bytes.range(of: $0.rawBytes)
  }
  #expect(dataRanges.count > 40)
  for _ in 0..<100 {
    let range = dataRanges[random(dataRanges.count)]
    let offset = range.lowerBound + random(range.count)
    let bit = random(8)
    try check(
      "bit flip in stored values", try damaged { $0[offset] ^= UInt8(1 << bit) },
      detail: "byte \(offset) bit \(bit)")
  }
  var metadataFlips = 0
  while metadataFlips < 100 {
    let offset = random(bytes.count)
    guard !dataRanges.contains(where: { $0.contains(offset) }) else { continue }
    let bit = random(8)
    try check(
      "bit flip in metadata", try damaged { $0[offset] ^= UInt8(1 << bit) },
      detail: "byte \(offset) bit \(bit)")
    metadataFlips += 1
  }

  // Structural edits through the HDF5 API, as h5py would make them. `epoch_losses` may be
  // absent (files of tool version 0.1) and has one value per epoch run, so it is not deleted
  // or lengthened.
  for dataset in datasets {
    let optional = dataset.name == "epoch_losses"
    if !optional {
      try check(
        "dataset deleted",
        try edited { try group($0, dataset.parent).remove(dataset.name) }, edited: dataset.path)
      try check(
        "dataset of the wrong length",
        try edited { root in
          let parent = try group(root, dataset.parent)
          try parent.remove(dataset.name)
          // One more column: each row gets the dataset's first value appended.
          let columns = dataset.shape[dataset.shape.count - 1]
          let rows = dataset.shape.count == 2 ? dataset.shape[0] : 1
          let stored = dataset.asDoubles
          let extra: Double = stored.first ?? 0
          var values: [Double] = []
          for row in 0..<rows {
            values += stored[(row * columns)..<((row + 1) * columns)]
            values.append(extra)
          }
          var shape = dataset.shape
          shape[shape.count - 1] = columns + 1
          try dataset.write(values, shape: shape, into: parent)
        }, edited: dataset.path)
    }
    try check(
      "dataset of another type",
      try edited { root in
        let parent = try group(root, dataset.parent)
        try parent.remove(dataset.name)
        try dataset.writeAsOtherType(into: parent)
      }, edited: dataset.path)
    try check(
      "dataset of another shape",
      try edited { root in
        let parent = try group(root, dataset.parent)
        try parent.remove(dataset.name)
        let count = dataset.asDoubles.count
        try dataset.write(
          dataset.asDoubles, shape: dataset.shape.count == 1 ? [count, 1] : [count], into: parent)
      }, edited: dataset.path)
    let path = mutantPath()
    try bytes.write(to: URL(fileURLWithPath: path))
    replaceWithHugeDataset(in: path, dataset.path, dimensions: [1 << 20, 1 << 30])
    try check("dataset with huge dimensions", path, edited: dataset.path)
    // Edits that keep the file valid: HDF5 recomputes every checksum, so only
    // content_sha256 tells a changed value apart; the same values in other chunks are the
    // same checkpoint.
    let count = dataset.asDoubles.count
    if count > 0 {
      let changed = mutantPath()
      try bytes.write(to: URL(fileURLWithPath: changed))
      dataset.overwriteChangingOne(at: random(count), in: changed)
      try check("valid value changed", changed, edited: dataset.path)
    }
    let rechunked = mutantPath()
    try bytes.write(to: URL(fileURLWithPath: rechunked))
    dataset.recreateInOtherChunks(in: rechunked)
    try check("same values in other chunks", rechunked, edited: dataset.path)
  }

  let experts = ["/model/experts/expert_000", "/model/experts/expert_001"]
  let tasks = ["/history/task_000", "/history/task_001"]
  let integerAttributes =
    [
      ("/", "format_version"), ("/optimizer", "step"), ("/stream", "tasks"),
      ("/stream", "current_task"), ("/stream", "replay_seen"),
    ]
    + experts.flatMap { [($0, "frozen"), ($0, "spawned_at_task"), ($0, "frozen_at_task")] }
    + tasks.flatMap { [($0 + "/routing", "samples"), ($0 + "/routing", "correct")] }
  let doubleAttributes = tasks.flatMap { task in
    [
      "usage_entropy_bits", "sample_entropy_bits", "class_entropy_bits", "routing_forgetting",
      "routing_accuracy", "training_seconds", "final_loss",
    ].map { (task, $0) } + [(task + "/routing", "entropy_total")]
  }
  let stringAttributes =
    [
      "format", "tool_version", "scenario", "scenario_hash", "policy", "dataset_sha256",
      "numerics", "content_sha256",
    ].map { ("/", $0) } + (experts + ["/model/gate"]).map { ($0, "kind") }
    + tasks.map { ($0, "lifecycle_events") }
  for (object, name) in integerAttributes {
    try check(
      "integer attribute out of range",
      try edited { try group($0, object).setAttribute(name, -7) }, edited: object)
    try check(
      "attribute of another type",
      try edited { try group($0, object).setAttribute(name, "7") }, edited: object)
    try check(
      "attribute deleted",
      try edited { try group($0, object).removeAttribute(name) }, edited: object)
  }
  for (object, name) in integerAttributes {
    try check(
      "valid value changed",
      try edited { root in
        let group = try group(root, object)
        try group.setAttribute(name, try group.integerAttribute(name) ^ 1)
      }, edited: object)
  }
  for (object, name) in doubleAttributes {
    try check(
      "valid value changed",
      try edited { root in
        let group = try group(root, object)
        try group.setAttribute(name, try group.doubleAttribute(name).nextUp)
      }, edited: object)
  }
  for (object, name) in doubleAttributes {
    try check(
      "attribute of another type",
      try edited { try group($0, object).setAttribute(name, "0.5") }, edited: object)
  }
  for (object, name) in stringAttributes {
    try check(
      "string attribute changed",
      try edited { root in
        let group = try group(root, object)
        try group.setAttribute(name, try group.stringAttribute(name) + "!")
      }, edited: object)
    try check(
      "attribute of another type",
      try edited { try group($0, object).setAttribute(name, 7) }, edited: object)
  }

  let total = tally.counts.values.reduce(0) { $0 + $1["mutants"]! }
  print("checkpoint fuzz, \(total) mutants of \(original) (\(bytes.count) bytes):\n\(tally.report)")
  #expect(total >= 300)
  // Damage is always detected on the resume path: checksums cover every byte.
  for category in ["truncation", "bit flip in stored values", "dataset with huge dimensions"] {
    #expect(tally.counts[category]?["resume identical"] == nil, "\(category) resumed")
  }
  // Every edit through the HDF5 API is refused by content_sha256, however valid, except
  // one that leaves every value as it was.
  for (category, row) in tally.counts where category != "same values in other chunks" {
    guard category != "truncation", !category.hasPrefix("bit flip") else { continue }
    #expect(row["inspect rejected"] == row["mutants"], "\(category): \(row)")
    #expect(row["resume rejected"] == row["mutants"], "\(category): \(row)")
  }
  let rechunked = tally.counts["same values in other chunks"] ?? [:]
  #expect(rechunked["inspect identical"] == rechunked["mutants"], "\(rechunked)")
  #expect(rechunked["resume identical"] == rechunked["mutants"], "\(rechunked)")
  #expect((tally.counts["valid value changed"]?["mutants"] ?? 0) > 80)
}
