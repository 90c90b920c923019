import Checkpoints
import Foundation
import Sweeps

/// The report of one or more continual runs from their checkpoints: each run's
/// ``RunFigures`` as SVG files, one `summary.md` with every run's numbers and figures, and
/// `index.html`, what `expertstream report` writes.
///
/// The input is a checkpoint file (one run, figures beside `summary.md`) or a directory:
/// there every directory holding a checkpoint (the input itself included) is one run, drawn
/// from its newest checkpoint, its figures in a sub-directory of the same relative path. A
/// sweep's output directory is such a directory; its `results.jsonl` adds every run's
/// record to the report (``sweepRecords``).
///
/// `index.html` is the run's page for a report of one run (input not a sweep), and
/// otherwise an overview linking to each run's page (``pagePath(of:)``).
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
  /// The records of a sweep's runs from `results.jsonl` in ``input``, in grid order; empty
  /// when the input is not a sweep's directory.
  public var sweepRecords: [SweepRecord]

  /// Reads the checkpoints of the runs under `input`, and the records of the sweep when
  /// `input` is a sweep's output directory.
  ///
  /// - Throws: ``ReportError`` when `input` does not exist, holds no checkpoint or has a
  ///   `results.jsonl` with a line that is not a sweep record; ``HDF5Error`` naming the file
  ///   when a checkpoint cannot be read.
  public init(input: String) throws {
    self.input = input
    runs = try Self.checkpoints(under: input).map { run in
      Run(name: run.name, file: run.file, summary: try Checkpoint.summary(of: run.file))
    }
    sweepRecords = try Self.sweepRecords(in: input)
  }

  /// Whether `index.html` is an overview of the runs rather than the only run's page: for
  /// several runs, a run in a sub-directory, or a sweep.
  public var hasOverview: Bool {
    runs.count > 1 || runs.contains { !$0.name.isEmpty } || !sweepRecords.isEmpty
  }

  /// Where `run`'s page is written, relative to the report's directory: `index.html`
  /// without an overview, otherwise `index.html` in the run's directory (`run.html` for a
  /// run at the input's top).
  public func pagePath(of run: Run) -> String {
    guard hasOverview else { return "index.html" }
    return run.name.isEmpty ? "run.html" : "\(run.name)/index.html"
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

extension RunReport {
  /// The records of `results.jsonl` in the directory `path`, one per line; none when `path`
  /// is a file or has no such file.
  ///
  /// - Throws: ``ReportError`` naming the file and line that is not a sweep record.
  static func sweepRecords(in path: String) throws -> [SweepRecord] {
    let file = (path as NSString).appendingPathComponent("results.jsonl")
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      isDirectory.boolValue, let contents = FileManager.default.contents(atPath: file)
    else { return [] }
    return try contents.split(separator: UInt8(ascii: "\n")).enumerated().map { line, text in
      do {
        return try SweepRecord(json: Data(text))
      } catch {
        throw ReportError(path: file, message: "line \(line + 1) is not a sweep record: \(error)")
      }
    }
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
