import Checkpoints
import Foundation

/// The report of one or more continual runs from their checkpoints: each run's
/// ``RunFigures`` as SVG files and one `summary.md` with every run's numbers and figures,
/// what `expertstream report` writes.
///
/// The input is a checkpoint file (one run, figures beside `summary.md`) or a directory:
/// there every directory holding a checkpoint (the input itself included) is one run, drawn
/// from its newest checkpoint, its figures in a sub-directory of the same relative path.
public struct RunReport {
  /// One run of a report.
  public struct Run {
    /// The run's directory relative to the report's input; empty for the input itself.
    public var name: String
    /// The checkpoint drawn, spelled under the input path as given.
    public var file: String
    /// The checkpoint's summary.
    public var summary: Checkpoint.Summary
  }

  /// The checkpoint file or directory the report covers, as given.
  public var input: String
  /// The runs found under ``input``, by name.
  public var runs: [Run]

  /// Reads the checkpoints of the runs under `input`.
  ///
  /// - Throws: ``ReportError`` when `input` does not exist or holds no checkpoint;
  ///   ``HDF5Error`` naming the file when a checkpoint cannot be read.
  public init(input: String) throws {
    self.input = input
    runs = try Self.checkpoints(under: input).map { run in
      Run(name: run.name, file: run.file, summary: try Checkpoint.summary(of: run.file))
    }
  }

  /// How many SVG files ``write(to:)`` writes.
  public var figureCount: Int { runs.count * RunFigures.figureCount }

  /// The checkpoints a report covers: the file itself, or under a directory each run
  /// directory's `latest.h5` (or its newest `task_NNN.h5`), named by its path below the
  /// directory.
  ///
  /// Runs are sorted by name; a checkpoint file's run has an empty name.
  ///
  /// - Throws: ``ReportError`` when the path does not exist or holds no checkpoint.
  public static func checkpoints(under path: String) throws -> [(name: String, file: String)] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ReportError(path: path, message: "no such file or directory")
    }
    guard isDirectory.boolValue else { return [("", path)] }
    // Every directory (the root included) that holds a checkpoint is one run.
    let root = URL(fileURLWithPath: path).standardized
    var runs: Set<String> = []
    let enumerator = FileManager.default.enumerator(atPath: root.path)
    while let relative = enumerator?.nextObject() as? String {
      let name = (relative as NSString).lastPathComponent
      if CheckpointDirectory.isCheckpointName(name) {
        runs.insert((relative as NSString).deletingLastPathComponent)
      }
    }
    // Checkpoints are named under `path` as the user gave it (the summary quotes them).
    let found = runs.sorted().map { run in
      (
        run,
        CheckpointDirectory.newestCheckpoint(
          in: run.isEmpty ? path : (path as NSString).appendingPathComponent(run))
      )
    }
    guard !found.isEmpty else {
      throw ReportError(
        path: path,
        message:
          "holds no checkpoint (latest.h5 or task_NNN.h5); run 'expertstream run SCENARIO' first")
    }
    return found
  }
}

/// A report input that is missing or holds no checkpoint.
public struct ReportError: Error, CustomStringConvertible {
  /// The input as given.
  public var path: String
  /// What is wrong with it.
  public var message: String

  public var description: String { "\(path): \(message)" }
}
