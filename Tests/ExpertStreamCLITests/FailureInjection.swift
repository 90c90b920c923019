import Foundation
import _TestSupport

/// A full disk for tests: a tmpfs of a few kilobytes mounted on a new temporary directory
/// (needs root and a kernel that allows the mount), unmounted when released.
final class SmallFileSystem {
  /// The mount point.
  let path: String
  private let parent: TemporaryDirectory

  /// Mounts a tmpfs of `kilobytes`; `nil` when the system refuses the mount.
  init?(kilobytes: Int) {
    guard getuid() == 0, let parent = try? TemporaryDirectory(prefix: "expertstream-full")
    else { return nil }
    self.parent = parent
    path = parent.path("disk")
    guard
      (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true))
        != nil,
      command("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path]) == 0
    else { return nil }
  }

  deinit { _ = command("/bin/umount", ["-l", path]) }
}

/// A read-only directory: a read-only tmpfs when running as root (permissions do not stop
/// root), else a directory without write permission; `nil` when neither can be made.
final class ReadOnlyDirectory {
  /// The directory.
  let path: String
  private let parent: TemporaryDirectory
  private let mounted: Bool

  init?() {
    guard let parent = try? TemporaryDirectory(prefix: "expertstream-readonly") else { return nil }
    self.parent = parent
    path = parent.path("readonly")
    guard
      (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true))
        != nil
    else { return nil }
    if getuid() == 0 {
      mounted = command("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", path]) == 0
      if !mounted { return nil }
    } else {
      mounted = false
      chmod(path, 0o555)
    }
  }

  deinit {
    if mounted { _ = command("/bin/umount", ["-l", path]) } else { chmod(path, 0o755) }
  }
}

/// Runs `executable` with `arguments` quietly; its exit status, or -1 when it cannot start.
@discardableResult
func command(_ executable: String, _ arguments: [String]) -> Int32 {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  guard (try? process.run()) != nil else { return -1 }
  process.waitUntilExit()
  return process.terminationStatus
}
