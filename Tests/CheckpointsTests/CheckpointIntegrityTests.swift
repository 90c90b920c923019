import CHDF5
import Checkpoints
import Continual
import Foundation
import TensorCore
import Testing
import _TestSupport

/// The error `body` throws, or a recorded issue when it throws none or another kind.
func hdf5Error(
  _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) -> HDF5Error? {
  do {
    try body()
    Issue.record("expected an HDF5Error", sourceLocation: sourceLocation)
  } catch let error as HDF5Error {
    return error
  } catch {
    Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
  }
  return nil
}

/// A fresh ``tinyRun(blank:)`` restored from `path`.
func resume(_ path: String) throws -> ContinualRun {
  let run = try tinyRun()
  try Checkpoint.restore(run, from: path)
  return run
}

/// A copy of `original` named `name` beside it, changed by `edit` through the HDF5 API.
///
/// Without `keepingDigest`, the copy becomes a file of format_version 1 without
/// `content_sha256`, as files written before it existed: the edit then meets the
/// consistency checks, which the digest would otherwise forestall.
func editedCopy(
  of original: String, _ name: String, keepingDigest: Bool = false,
  _ edit: (HDF5Group) throws -> Void
) throws -> String {
  let path = URL(fileURLWithPath: original).deletingLastPathComponent()
    .appendingPathComponent(name).path
  try FileManager.default.copyItem(atPath: original, toPath: path)
  let file = try HDF5File.open(path, writable: true)
  if !keepingDigest {
    try file.root.removeAttribute("content_sha256")
    try file.root.setAttribute("format_version", 1)
  }
  try edit(file.root)
  return path
}

/// The group at `path` (`/history/task_001`) under `root`.
func group(_ root: HDF5Group, _ path: String) throws -> HDF5Group {
  try path.split(separator: "/").reduce(root) { try $0.existingGroup(String($1)) }
}

/// The byte range of `values` (their raw float32 bytes) in the file at `path`.
func storedRange(of values: [Float], in path: String) throws -> Range<Int> {
  let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
  let pattern = values.withUnsafeBytes { Data($0) }
  let found = try #require(bytes.range(of: pattern))
  return found.lowerBound..<found.upperBound
}

/// A copy of `original` named `name` with bit `bit` of byte `offset` flipped.
func flippedCopy(of original: String, _ name: String, offset: Int, bit: Int) throws -> String {
  var bytes = try Data(contentsOf: URL(fileURLWithPath: original))
  bytes[offset] ^= UInt8(1 << bit)
  let path = URL(fileURLWithPath: original).deletingLastPathComponent()
    .appendingPathComponent(name).path
  try bytes.write(to: URL(fileURLWithPath: path))
  return path
}

/// Replaces dataset `object` of the file at `path` with a float32 one of `dimensions` whose
/// storage is never written (so the file stays small): what a flipped bit in an
/// unchecksummed dataspace message gives.
func replaceWithHugeDataset(in path: String, _ object: String, dimensions: [UInt64]) {
  let file = H5Fopen(path, es_H5F_ACC_RDWR(), es_H5P_DEFAULT())
  defer { H5Fclose(file) }
  #expect(H5Ldelete(file, object, es_H5P_DEFAULT()) >= 0)
  let space = H5Screate_simple(Int32(dimensions.count), dimensions, nil)
  defer { H5Sclose(space) }
  let dataset = H5Dcreate2(
    file, object, es_H5T_NATIVE_FLOAT(), space, es_H5P_DEFAULT(), es_H5P_DEFAULT(),
    es_H5P_DEFAULT())
  #expect(dataset >= 0)
  H5Dclose(dataset)
}

@Test func hugeStoredDimensionsAreRefusedBeforeAnythingIsAllocated() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let path = directory.path("huge.h5")
  try FileManager.default.copyItem(atPath: original, toPath: path)
  replaceWithHugeDataset(
    in: path, "/model/experts/expert_001/output.weight", dimensions: [100_000, 100_000_000_000])
  let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
  let expected = HDF5Error(
    file: path, path: "/model/experts/expert_001/output.weight",
    message: "has dimensions [100000, 100000000000], more values than the file's \(size) bytes")
  #expect(hdf5Error { _ = try Checkpoint.summary(of: path) } == expected)
  #expect(hdf5Error { _ = try resume(path) } == expected)
}

@Test func aBitFlipInTheMetadataIsAChecksumMismatch() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  // Object headers of the 1.10 format start with "OHDR" and end with a checksum; flip a bit
  // in the message area of the tenth one.
  let bytes = try Data(contentsOf: URL(fileURLWithPath: original))
  var headers: [Int] = []
  var start = bytes.startIndex
  while let found = bytes.range(of: Data("OHDR".utf8), in: start..<bytes.endIndex) {
    headers.append(found.lowerBound)
    start = found.upperBound
  }
  #expect(headers.count > 20)
  let path = try flippedCopy(of: original, "flipped.h5", offset: headers[10] + 24, bit: 3)
  let summary = hdf5Error { _ = try Checkpoint.summary(of: path) }
  #expect(summary?.file == path)
  #expect(
    summary?.message.hasPrefix("checksum mismatch: ") == true, "\(String(describing: summary))")
  #expect(summary?.message.hasSuffix(" (the file is damaged)") == true)
}

@Test func aHistoryDatasetOfTheWrongLengthIsNamedWithTheExpectedLength() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let path = try editedCopy(of: original, "long.h5") { root in
    let task = try group(root, "/history/task_001")
    try task.remove("accuracy_class_il")
    try task.write("accuracy_class_il", doubles: [0.5, 0.5, 0.5], shape: [3])
  }
  let expected = HDF5Error(
    file: path, path: "/history/task_001/accuracy_class_il",
    message: "has 3 values, expected 2 (2 tasks seen)")
  #expect(hdf5Error { _ = try Checkpoint.summary(of: path) } == expected)
  #expect(hdf5Error { _ = try resume(path) } == expected)
}

@Test func eventsAndCountsOfTheWrongShapeAreNamedWithTheExpectedShape() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let events = try editedCopy(of: original, "events.h5") { root in
    let task = try group(root, "/history/task_001")
    try task.remove("events")
    try task.write("events", integers: [1, 1, 0, 1], shape: [4])
  }
  #expect(
    hdf5Error { _ = try resume(events) }
      == HDF5Error(
        file: events, path: "/history/task_001/events",
        message: "has shape [4], expected [n, 3] (task, expert and kind of each event)"))
  let counts = try editedCopy(of: original, "counts.h5") { root in
    let task = try group(root, "/history/task_001")
    let (_, values) = try task.readIntegers("counts")
    try task.remove("counts")
    try task.write("counts", integers: Array(values.prefix(10)), shape: [1, 10])
  }
  #expect(
    hdf5Error { _ = try resume(counts) }
      == HDF5Error(
        file: counts, path: "/history/task_001/counts",
        message: "has shape [1, 10], expected [2, 10] (2 experts × 10 classes)"))
}

@Test func bitFlipsInWeightsAreDetectedByTheirChecksum() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let weights = try HDF5File.open(original).root.existingGroup("model").existingGroup("experts")
    .existingGroup("expert_001").readFloats("features.layers.1.weight").values
  let range = try storedRange(of: weights, in: original)
  var generator = RandomGenerator(seed: 40)
  for flip in 0..<40 {
    let offset = range.lowerBound + Int(generator.next() % UInt64(range.count))
    let path = try flippedCopy(
      of: original, "flip_\(flip).h5", offset: offset, bit: Int(generator.next() % 8))
    #expect(
      hdf5Error { _ = try resume(path) }
        == HDF5Error(
          file: path, path: "/model/experts/expert_001/features.layers.1.weight",
          message: "checksum mismatch: cannot read the dataset (the file is damaged)"))
  }
}

@Test func resumingOnOtherDataIsRefusedNamingTheAttribute() throws {
  let directory = try TemporaryDirectory()
  let path = try writeTinyCheckpoints(in: directory.url.path)
  let trained = try tinyRun()
  let blank = try tinyRun(blank: true)
  let stored = trained.dataDigest
  #expect(try HDF5File.open(path).root.stringAttribute("dataset_sha256") == stored)
  #expect(
    hdf5Error { try Checkpoint.restore(blank, from: path) }
      == HDF5Error(
        file: path, path: "/",
        message:
          "attribute dataset_sha256 is \(stored), but the data of this run has "
          + "\(blank.dataDigest): the checkpoint was written on other data; "
          + "resume with the dataset it was trained on (--data-dir), or start the run again "
          + "without --resume"))
}

@Test func aReplayIndexOutOfRangeIsNamedWithTheFileAndObject() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let path = try editedCopy(of: original, "replay.h5") { root in
    let stream = try root.existingGroup("stream")
    var (_, values) = try stream.readIntegers("replay_indices")
    values[3] = 1_000_000_000
    try stream.remove("replay_indices")
    try stream.write("replay_indices", integers: values, shape: [values.count])
  }
  #expect(
    hdf5Error { _ = try resume(path) }
      == HDF5Error(
        file: path, path: "/stream/replay_indices",
        message: "index 1000000000 at position 3 is out of range for the training set's 60 samples"
      ))
}

@Test func checkpointsWithoutChecksumsOrDataIdentityStillInspectAndResume() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  // As the tool wrote them before: no dataset_sha256 or content_sha256, no Fletcher-32,
  // contiguous datasets, the earliest file format (no metadata checksums).
  let stripped = try editedCopy(of: original, "stripped.h5") { root in
    try root.removeAttribute("dataset_sha256")
  }
  let old = directory.path("old.h5")
  let repack = Process()
  repack.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  repack.arguments = ["h5repack", "-f", "NONE", "-l", "CONTIG", stripped, old]
  try repack.run()
  repack.waitUntilExit()
  #expect(repack.terminationStatus == 0)
  #expect(try !String(contentsOfFile: old, encoding: .isoLatin1).contains("OHDR"))
  #expect(
    fingerprint(try Checkpoint.summary(of: old))
      == fingerprint(try Checkpoint.summary(of: original)))
  #expect(fingerprint(try resume(old).state) == fingerprint(try resume(original).state))
  // Without the attribute, other data cannot be told apart: the run resumes.
  #expect(throws: Never.self) { try Checkpoint.restore(try tinyRun(blank: true), from: old) }
}
