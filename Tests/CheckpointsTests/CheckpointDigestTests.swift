import Continual
import Foundation
import Testing
import _TestSupport

@testable import Checkpoints

/// The error of a checkpoint whose contents do not match its `content_sha256`.
private func mismatch(_ path: String) -> HDF5Error {
  HDF5Error(
    file: path, path: "/",
    message:
      "checksum mismatch: the file's contents do not match content_sha256 (the file was "
      + "changed after it was written, or is damaged)")
}

/// A copy of `original` named `name` beside it, changed by `edit` (given the copy's path).
private func changedCopy(of original: String, _ name: String, _ edit: (String) throws -> Void)
  throws -> String
{
  let path = URL(fileURLWithPath: original).deletingLastPathComponent()
    .appendingPathComponent(name).path
  try FileManager.default.copyItem(atPath: original, toPath: path)
  try edit(path)
  return path
}

@Test func validValuesEditedThroughHDF5AreAChecksumMismatch() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let root = try HDF5File.open(original).root
  var state = try root.existingGroup("rng").readIntegers("state").values
  state[0] &+= 1
  var replay = try root.existingGroup("stream").readIntegers("replay_indices").values
  replay[0] = replay[0] == 0 ? 1 : replay[0] - 1
  let weightPath = "/model/experts/expert_001/features.layers.1.weight"
  var weights = try group(root, "/model/experts/expert_001")
    .readFloats("features.layers.1.weight").values
  weights[5] = weights[5].nextUp
  let seen = try root.existingGroup("stream").integerAttribute("replay_seen")

  let edits: [(String, (String) throws -> Void)] = [
    ("rng.h5", { overwriteDataset(in: $0, "/rng/state", values: state) }),
    ("replay.h5", { overwriteDataset(in: $0, "/stream/replay_indices", values: replay) }),
    ("weight.h5", { overwriteDataset(in: $0, weightPath, values: weights) }),
    (
      "replay_seen.h5",
      {
        try HDF5File.open($0, writable: true).root.existingGroup("stream")
          .setAttribute("replay_seen", seen + 1)
      }
    ),
    (
      "recreated.h5",
      {
        recreateDataset(
          in: $0, "/rng/state", values: state, shape: [state.count], chunk: [2])
      }
    ),
  ]
  for (name, edit) in edits {
    let path = try changedCopy(of: original, name, edit)
    #expect(hdf5Error { _ = try Checkpoint.summary(of: path) } == mismatch(path), "\(name)")
    #expect(hdf5Error { _ = try resume(path) } == mismatch(path), "\(name)")
  }

  // Removing the digest as well is refused: every file of format_version 2 carries it.
  let stripped = try changedCopy(of: original, "stripped.h5") { path in
    try HDF5File.open(path, writable: true).root.removeAttribute("content_sha256")
    overwriteDataset(in: path, "/rng/state", values: state)
  }
  #expect(
    hdf5Error { _ = try resume(stripped) }
      == HDF5Error(
        file: stripped, path: "/",
        message:
          "checksum mismatch: attribute content_sha256 is missing, and every checkpoint of "
          + "format_version 2 carries it (the file was changed after it was written)"))
  // Files of format_version 1 have no digest: there a changed random state passes every
  // other check and resumes to another state, which content_sha256 now prevents.
  let undetected = try changedCopy(of: original, "undetected.h5") { path in
    let root = try HDF5File.open(path, writable: true).root
    try root.removeAttribute("content_sha256")
    try root.setAttribute("format_version", 1)
    overwriteDataset(in: path, "/rng/state", values: state)
  }
  #expect(fingerprint(try resume(undetected).state) != fingerprint(try resume(original).state))
}

@Test func datasetsRecreatedWithTheSameValuesInOtherChunksAreAccepted() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let root = try HDF5File.open(original).root
  let state = try root.existingGroup("rng").readIntegers("state")
  let weights = try group(root, "/model/experts/expert_001").readFloats("output.weight")
  let decomposition = try group(root, "/history/task_001").readDoubles("decomposition")
  let path = try changedCopy(of: original, "rechunked.h5") { path in
    recreateDataset(
      in: path, "/rng/state", values: state.values, shape: state.shape, chunk: [2])
    recreateDataset(
      in: path, "/model/experts/expert_001/output.weight", values: weights.values,
      shape: weights.shape, chunk: otherChunks(of: weights.shape))
    recreateDataset(
      in: path, "/history/task_001/decomposition", values: decomposition.values,
      shape: decomposition.shape, chunk: nil)
  }
  #expect(
    try Data(contentsOf: URL(fileURLWithPath: path))
      != Data(contentsOf: URL(fileURLWithPath: original)))
  #expect(
    fingerprint(try Checkpoint.summary(of: path))
      == fingerprint(try Checkpoint.summary(of: original)))
  #expect(fingerprint(try resume(path).state) == fingerprint(try resume(original).state))

  // The whole file repacked: contiguous datasets without filters, the earliest format.
  let repacked = directory.path("repacked.h5")
  let repack = Process()
  repack.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  repack.arguments = ["h5repack", "-f", "NONE", "-l", "CONTIG", original, repacked]
  try repack.run()
  repack.waitUntilExit()
  #expect(repack.terminationStatus == 0)
  #expect(
    fingerprint(try Checkpoint.summary(of: repacked))
      == fingerprint(try Checkpoint.summary(of: original)))
  #expect(fingerprint(try resume(repacked).state) == fingerprint(try resume(original).state))
}

@Test func theContentDigestIsTheSameForEveryLayoutAndCoversEveryObject() throws {
  let directory = try TemporaryDirectory()
  let original = try writeTinyCheckpoints(in: directory.url.path)
  let file = try HDF5File.open(original)
  let stored = try file.root.stringAttribute("content_sha256")
  #expect(try file.contentDigest(excludingRootAttribute: "content_sha256") == stored)
  #expect(stored.count == 64)
  // Another attribute on a dataset changes it.
  let annotated = try changedCopy(of: original, "annotated.h5") { path in
    try HDF5Group(file: HDF5File.open(path, writable: true), path: "/rng/state")
      .setAttribute("note", "x")
  }
  #expect(
    try HDF5File.open(annotated).contentDigest(excludingRootAttribute: "content_sha256")
      != stored)
}
