import Checkpoints
import Foundation

/// The `--metrics-json` file of a run or comparison.
public enum MetricsFile {
  /// Checks, before anything is trained, that the directory of the metrics file at `path`
  /// can be created and takes new files.
  ///
  /// - Throws: ``FileSystemError`` naming the directory and the reason.
  public static func checkWritable(_ path: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try FileSystem.createDirectory(directory)
    try FileSystem.checkWritable(directory)
  }
}
