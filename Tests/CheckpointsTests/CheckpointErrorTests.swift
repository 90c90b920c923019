import Checkpoints
import Foundation
import Testing
import _TestSupport

/// The error `Checkpoint.summary(of:)` gives for `path`, or a recorded issue.
private func summaryError(_ path: String) -> HDF5Error? {
  do {
    _ = try Checkpoint.summary(of: path)
    Issue.record("expected \(path) to be rejected")
  } catch let error as HDF5Error {
    return error
  } catch {
    Issue.record("unexpected \(error)")
  }
  return nil
}

@Test func aNewerFormatVersionIsRefusedNamingIt() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("future.h5")
  do {
    let file = try HDF5File.create(path)
    try file.root.setAttribute("format", Checkpoint.format)
    try file.root.setAttribute("format_version", Checkpoint.formatVersion + 1)
  }
  let error = summaryError(path)
  #expect(error?.path == "/")
  #expect(
    error?.message.contains("format_version \(Checkpoint.formatVersion + 1) is newer") == true)
}

@Test func aMissingPartIsNamedByItsPath() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("partial.h5")
  do {
    let file = try HDF5File.create(path)
    try file.root.setAttribute("format", Checkpoint.format)
    // Version 1 carried no content digest: the missing part itself is reported.
    try file.root.setAttribute("format_version", 1)
    try file.root.setAttribute("tool_version", "test")
  }
  let error = summaryError(path)
  #expect(error == HDF5Error(file: path, path: "/stream", message: "missing group"))
}

@Test func aTruncatedFileIsRefused() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("whole.h5")
  do {
    let file = try HDF5File.create(path)
    try file.root.setAttribute("format", Checkpoint.format)
    try file.root.group("model").write(
      "weights", floats: [Float](repeating: 1, count: 4096), shape: [4096])
  }
  let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
  let cut = directory.path("cut.h5")
  try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: cut))
  let error = summaryError(cut)
  #expect(error?.file == cut)
}
