import Foundation

/// A file-system step that failed: the path, the step and the system's reason.
///
/// Its description reads `checkpoints/x: cannot create the directory: Not a directory`.
public struct FileSystemError: Error, CustomStringConvertible, Equatable {
  /// The file or directory.
  public let path: String
  /// What failed, such as "cannot create the directory".
  public let step: String
  /// The `errno` value.
  public let code: Int32

  /// The failure of `step` on `path` with `errno` `code`.
  public init(path: String, step: String, code: Int32) {
    self.path = path
    self.step = step
    self.code = code
  }

  /// The system's text for ``code`` (`strerror`), such as "Permission denied".
  public var reason: String { String(cString: strerror(code)) }

  public var description: String { "\(path): \(step): \(reason)" }
}

/// File operations that say which path failed and why, and writes that survive a crash or
/// a power cut: temporary file, `fsync`, rename over the old file, `fsync` of the directory.
public enum FileSystem {
  /// Creates `directory` and its missing parents (like `mkdir -p`).
  ///
  /// - Throws: ``FileSystemError`` naming `directory`, with the reason of the step that
  ///   failed ("Not a directory" when a parent is a file, "File name too long", …).
  public static func createDirectory(_ directory: String) throws {
    var prefix = directory.hasPrefix("/") ? "" : "."
    for component in directory.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
        throw FileSystemError(path: directory, step: "cannot create the directory", code: errno)
      }
    }
    var status = stat()
    guard stat(directory, &status) == 0 else {
      throw FileSystemError(path: directory, step: "cannot create the directory", code: errno)
    }
    guard status.st_mode & S_IFMT == S_IFDIR else {
      throw FileSystemError(path: directory, step: "cannot create the directory", code: ENOTDIR)
    }
  }

  /// The temporary file beside `path` that this process writes before renaming it over
  /// `path`: `.NAME.partial-PID`.
  public static func temporaryPath(for path: String) -> String {
    let url = URL(fileURLWithPath: path)
    return url.deletingLastPathComponent().appendingPathComponent(
      ".\(url.lastPathComponent).partial-\(getpid())"
    ).path
  }

  /// Writes `data` to `path` (creating its directory) through ``temporaryPath(for:)``,
  /// synced to disk and renamed over the old file, which stays whole until then; the
  /// directory is synced last, so the new file survives a power cut.
  ///
  /// - Throws: ``FileSystemError`` naming `path` and the reason ("No space left on
  ///   device", …); the temporary is removed.
  public static func writeAtomically(_ data: Data, to path: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try createDirectory(directory)
    let temporary = temporaryPath(for: path)
    func failure(_ step: String, _ code: Int32 = errno) -> FileSystemError {
      FileSystemError(path: path, step: step, code: code)
    }
    let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure("cannot create the file") }
    var failed: FileSystemError?
    var written = 0
    while written < data.count {
      let count = data[(data.startIndex + written)...].withUnsafeBytes {
        write(descriptor, $0.baseAddress, $0.count)
      }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else {
        failed = failure("cannot write the file", count == 0 ? EIO : errno)
        break
      }
      written += count
    }
    if failed == nil && fsync(descriptor) != 0 { failed = failure("cannot sync the file") }
    if close(descriptor) != 0 && failed == nil { failed = failure("cannot write the file") }
    if failed == nil && rename(temporary, path) != 0 {
      failed = failure("cannot rename the temporary file into place")
    }
    if let failed {
      unlink(temporary)
      throw failed
    }
    try syncDirectory(directory)
  }

  /// Makes the renames and removals in `directory` durable (`fsync` of the directory).
  public static func syncDirectory(_ directory: String) throws {
    let descriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw FileSystemError(path: directory, step: "cannot sync the directory", code: errno)
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
      throw FileSystemError(path: directory, step: "cannot sync the directory", code: errno)
    }
  }

  private static let probePrefix = ".write-probe-"

  /// Checks that new files can be made in `directory`: creates, writes, syncs and renames
  /// a small probe file there, then removes it.
  ///
  /// - Throws: ``FileSystemError`` naming `directory`, the step and the reason ("Read-only
  ///   file system", "Permission denied", "No space left on device", …).
  public static func checkWritable(_ directory: String) throws {
    let probe = "\(directory)/\(probePrefix)\(getpid())"
    do {
      try writeAtomically(Data("probe\n".utf8), to: probe)
    } catch let error as FileSystemError {
      throw FileSystemError(
        path: directory, step: "cannot write files here (\(error.step), checked with a probe file)",
        code: error.code)
    }
    guard unlink(probe) == 0 else {
      throw FileSystemError(path: directory, step: "cannot remove the probe file", code: errno)
    }
  }

  /// Removes the temporaries (`.NAME.partial-PID`) and probe files (`.write-probe-PID`) in
  /// `directory` that processes no longer running left behind (killed mid-write) and
  /// returns their names; those of a live process (`kill(PID, 0)` not failing with
  /// `ESRCH`) are kept, and so is anything not a regular file.
  public static func removeAbandonedTemporaries(in directory: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.sorted().filter { name in
      guard name.hasPrefix("."),
        let marker = name.range(of: ".partial-", options: .backwards)
          ?? name.range(of: probePrefix, options: .anchored),
        let pid = pid_t(name[marker.upperBound...]), pid > 0
      else { return false }
      guard kill(pid, 0) != 0 && errno == ESRCH else { return false }
      var status = stat()
      let path = "\(directory)/\(name)"
      guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return false }
      return unlink(path) == 0
    }
  }
}

/// An exclusive lock on a directory (`flock` on a lock file in it), held until released;
/// the system releases it when the process ends, even by `kill -9`. The file records the
/// holder's PID and host, and is removed when the lock is released.
public final class DirectoryLock {
  /// The lock file.
  public let path: String
  private let descriptor: Int32

  /// Another process holds the lock.
  public struct Held: Error, Equatable {
    /// The lock file.
    public let path: String
    /// What the holder wrote: `process PID on HOST`, or `nil` when unreadable.
    public let holder: String?
  }

  /// Takes the lock `path` (created when missing) without waiting.
  ///
  /// A lock file removed by its releasing holder between this process's open and lock is
  /// noticed (it is no longer the file at `path`), and the lock is taken again on the new
  /// file, so two processes never both hold the lock.
  ///
  /// - Throws: ``Held`` when another process holds it; ``FileSystemError`` when the file
  ///   cannot be opened.
  public init(_ path: String) throws {
    while true {
      let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
      guard descriptor >= 0 else {
        throw FileSystemError(path: path, step: "cannot open the lock file", code: errno)
      }
      guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
        let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
          .trimmingCharacters(in: .whitespacesAndNewlines)
        close(descriptor)
        throw Held(path: path, holder: holder?.isEmpty == false ? holder : nil)
      }
      var locked = stat()
      var current = stat()
      guard fstat(descriptor, &locked) == 0, stat(path, &current) == 0,
        locked.st_dev == current.st_dev, locked.st_ino == current.st_ino
      else {
        close(descriptor)
        continue
      }
      let holder = "process \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
      ftruncate(descriptor, 0)
      _ = holder.withCString { write(descriptor, $0, strlen($0)) }
      self.path = path
      self.descriptor = descriptor
      return
    }
  }

  /// Removes the lock file, then releases the lock.
  deinit {
    unlink(path)
    close(descriptor)
  }
}
