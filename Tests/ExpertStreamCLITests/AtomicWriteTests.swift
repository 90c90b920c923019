import Checkpoints
import Foundation
import Testing
import _TestSupport

/// Writes a file of `count` floats atomically to `path`.
private func writeFloats(_ count: Int, to path: String) throws {
  try HDF5File.createAtomically(path) { root in
    try root.write("values", floats: [Float](repeating: 1, count: count), shape: [count])
  }
}

@Test func anAtomicWriteReplacesTheFileWithoutRemovingItFirst() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("latest.h5")
  try writeFloats(10, to: path)
  let before = try Data(contentsOf: URL(fileURLWithPath: path))
  // The temporary cannot be created (a directory has its name): the old file stays whole.
  let temporary = directory.path(".latest.h5.partial-\(getpid())")
  try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
  #expect(
    throws: HDF5Error(file: path, path: "/", message: "cannot create the file: Is a directory")
  ) {
    try writeFloats(20, to: path)
  }
  #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  try FileManager.default.removeItem(atPath: temporary)
  try writeFloats(20, to: path)
  #expect(try HDF5File.open(path).root.readFloats("values").values.count == 20)
  #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["latest.h5"])
}

@Test func aFullDiskFailsTheWriteWithItsReasonAndKeepsTheOldFile() throws {
  let disk = try #require(SmallFileSystem(kilobytes: 200), "cannot mount a tmpfs: run as root")
  let path = "\(disk.path)/latest.h5"
  try writeFloats(10, to: path)
  let before = try Data(contentsOf: URL(fileURLWithPath: path))
  #expect(
    throws: HDF5Error(
      file: path, path: "/", message: "cannot write the file: No space left on device")
  ) { try writeFloats(100_000, to: path) }
  #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path) == ["latest.h5"])
}

@Test func directoriesThatCannotBeCreatedAreNamedWithTheReason() throws {
  let directory = try TemporaryDirectory()
  let file = directory.path("file")
  try Data().write(to: URL(fileURLWithPath: file))
  #expect(
    throws: HDF5Error(
      file: "\(file)/x", path: "/", message: "cannot create the directory: Not a directory")
  ) { try writeFloats(1, to: "\(file)/x/latest.h5") }
  let long = String(repeating: "n", count: 300)
  #expect(
    throws: HDF5Error(
      file: directory.path("\(long).h5"), path: "/",
      message: "cannot create the file: File name too long")
  ) { try writeFloats(1, to: directory.path("\(long).h5")) }
  #expect(
    throws: HDF5Error(
      file: "\(file)/plain.h5", path: "/", message: "cannot create the file: Not a directory")
  ) { _ = try HDF5File.create("\(file)/plain.h5") }
}

@Test func whatIsAtThePathIsNeverRemovedBeforeTheRename() throws {
  let directory = try TemporaryDirectory()
  // A directory at the path: the rename fails, and nothing there was removed first.
  let path = directory.path("latest.h5")
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
  try Data("kept".utf8).write(to: URL(fileURLWithPath: "\(path)/inside"))
  #expect(
    throws: HDF5Error(
      file: path, path: "/",
      message: "cannot rename the temporary file into place: Is a directory")
  ) { try writeFloats(10, to: path) }
  #expect(try String(contentsOfFile: "\(path)/inside", encoding: .utf8) == "kept")
  #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["latest.h5"])
}
