import Checkpoints
import Foundation
import Testing
import _TestSupport

@Test func directoriesThatCannotBeCreatedAreNamedWithTheSystemsReason() throws {
  let directory = try TemporaryDirectory()
  let file = directory.path("file")
  try Data().write(to: URL(fileURLWithPath: file))
  #expect(
    throws: FileSystemError(path: "\(file)/x/y", step: "cannot create the directory", code: ENOTDIR)
  ) { try FileSystem.createDirectory("\(file)/x/y") }
  #expect(
    "\(FileSystemError(path: "checkpoints/x", step: "cannot create the directory", code: ENOTDIR))"
      == "checkpoints/x: cannot create the directory: Not a directory")
  let long = directory.path(String(repeating: "n", count: 300))
  #expect(
    throws: FileSystemError(path: long, step: "cannot create the directory", code: ENAMETOOLONG)
  ) { try FileSystem.createDirectory(long) }
  try FileSystem.createDirectory(directory.path("a/b/c"))
  try FileSystem.createDirectory(directory.path("a/b/c"))
  #expect(FileManager.default.fileExists(atPath: directory.path("a/b/c")))
}

@Test func anAtomicWriteKeepsTheOldFileWhenTheNewOneCannotBeWritten() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path("metrics.json")
  try FileSystem.writeAtomically(Data("old".utf8), to: path)
  // A directory where the temporary goes: the write fails, the old file stays whole.
  let temporary = FileSystem.temporaryPath(for: path)
  #expect(temporary == directory.path(".metrics.json.partial-\(getpid())"))
  try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
  #expect(throws: FileSystemError(path: path, step: "cannot create the file", code: EISDIR)) {
    try FileSystem.writeAtomically(Data("new".utf8), to: path)
  }
  #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
  try FileManager.default.removeItem(atPath: temporary)
  try FileSystem.writeAtomically(Data("new".utf8), to: path)
  #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
  #expect(
    try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["metrics.json"])
}

@Test func aDirectoryThatIsAFileFailsTheWriteProbe() throws {
  let directory = try TemporaryDirectory()
  let file = directory.path("file")
  try Data().write(to: URL(fileURLWithPath: file))
  #expect(
    throws: FileSystemError(
      path: file,
      step: "cannot write files here (cannot create the directory, checked with a "
        + "probe file)", code: ENOTDIR)
  ) { try FileSystem.checkWritable(file) }
  try FileSystem.checkWritable(directory.url.path)
  #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["file"])
}

@Test func onlyTemporariesOfEndedProcessesAreRemoved() throws {
  let directory = try TemporaryDirectory()
  let ended = Process()
  ended.executableURL = URL(fileURLWithPath: "/bin/true")
  try ended.run()
  ended.waitUntilExit()
  let dead = ended.processIdentifier
  let names = [
    ".latest.h5.partial-\(dead)", ".write-probe-\(dead)", ".task_001.h5.partial-1",
    ".latest.h5.partial-\(getpid())", "latest.h5", ".notes.partial-x",
  ]
  for name in names { try Data().write(to: URL(fileURLWithPath: directory.path(name))) }
  try FileManager.default.createDirectory(
    atPath: directory.path(".model.h5.partial-\(dead)"), withIntermediateDirectories: false)
  #expect(
    FileSystem.removeAbandonedTemporaries(in: directory.url.path) == [
      ".latest.h5.partial-\(dead)", ".write-probe-\(dead)",
    ])
  #expect(
    Set(try FileManager.default.contentsOfDirectory(atPath: directory.url.path))
      == Set(names.dropFirst(2) + [".model.h5.partial-\(dead)"]))
}

@Test func aDirectoryLockIsExclusiveNamesItsHolderAndIsRemovedOnRelease() throws {
  let directory = try TemporaryDirectory()
  let path = directory.path(".lock")
  var lock: DirectoryLock? = try DirectoryLock(path)
  let held = #expect(throws: DirectoryLock.Held.self) { try DirectoryLock(path) }
  #expect(held?.path == path)
  #expect(held?.holder == "process \(getpid()) on \(ProcessInfo.processInfo.hostName)")
  #expect(lock?.path == path)
  lock = nil
  #expect(!FileManager.default.fileExists(atPath: path))
  lock = try DirectoryLock(path)
  #expect(FileManager.default.fileExists(atPath: path))
}
