import Checkpoints
import Foundation

/// A sweep's output directory: one directory per run under `runs/` (its checkpoints and
/// metrics), each ended run's record in `records/<id>.json`, and `results.jsonl` rebuilt
/// from those records in grid order after every run.
///
/// Only rank 0 writes records. A record is written atomically (temporary file synced to
/// disk, then renamed), so a sweep killed at any point leaves whole records or none.
public final class SweepStore {
  /// The output directory.
  public let directory: String
  /// The sweep's runs, in grid order.
  public let runs: [SweepRun]
  private var directoryLock: DirectoryLock?

  /// The store of `runs` in `directory` (created when missing).
  ///
  /// - Throws: ``FileSystemError`` naming the directory that cannot be created and why.
  public init(directory: String, runs: [SweepRun]) throws {
    self.directory = directory
    self.runs = runs
    for subdirectory in ["runs", "records"] {
      try FileSystem.createDirectory("\(directory)/\(subdirectory)")
    }
  }

  /// Takes the directory's lock (`flock` on `.lock`) for the life of this process; the
  /// system releases it when the process ends, even by `kill -9`. Taking it again is a
  /// no-op.
  ///
  /// - Throws: ``SweepError/locked(directory:message:)`` when another sweep holds it.
  public func lock() throws {
    guard directoryLock == nil else { return }
    do {
      directoryLock = try DirectoryLock("\(directory)/.lock")
    } catch let held as DirectoryLock.Held {
      throw SweepError.locked(
        directory: directory,
        message: "another sweep is writing here"
          + (held.holder.map { " (\($0))" } ?? "")
          + "; wait for it to finish or choose another --out")
    } catch let error as FileSystemError {
      throw SweepError.locked(directory: directory, message: "\(error.step): \(error.reason)")
    }
  }

  /// Where `run` writes its checkpoints and metrics.
  public func directory(of run: SweepRun) -> String { "\(directory)/runs/\(run.id)" }

  /// `run`'s stored record, or `nil` when it has not ended (or its file is unreadable).
  ///
  /// Its index is the run's in this grid: a record written before variants or axis values
  /// were added to the sweep file keeps its run id but may have moved.
  public func record(of run: SweepRun) -> SweepRecord? {
    guard var record = storedLine(of: run).flatMap({ try? SweepRecord(json: $0) }) else {
      return nil
    }
    record.index = run.index
    return record
  }

  private func storedLine(of run: SweepRun) -> Data? {
    FileManager.default.contents(atPath: recordPath(of: run))
  }

  private func recordPath(of run: SweepRun) -> String { "\(directory)/records/\(run.id).json" }

  /// Whether `run` finished successfully in an earlier or this sweep.
  public func isFinished(_ run: SweepRun) -> Bool {
    record(of: run)?.status == .finished
  }

  /// Stores `record` as `run`'s result and rebuilds `results.jsonl`: the stored records'
  /// lines in grid order.
  ///
  /// - Throws: ``FileSystemError`` naming the file that cannot be written and why.
  public func store(_ record: SweepRecord, for run: SweepRun) throws {
    try FileSystem.writeAtomically(record.line(), to: recordPath(of: run))
    try writeResults()
  }

  /// Rebuilds `results.jsonl` from the stored records, in grid order.
  ///
  /// - Throws: ``FileSystemError`` naming the file that cannot be written and why.
  public func writeResults() throws {
    var lines = Data()
    for run in runs {
      guard let stored = self.record(of: run) else { continue }
      lines.append(try stored.line())
      lines.append(UInt8(ascii: "\n"))
    }
    try FileSystem.writeAtomically(lines, to: "\(directory)/results.jsonl")
  }

  /// Every stored record, in grid order.
  public func records() -> [SweepRecord] {
    runs.compactMap { record(of: $0) }
  }
}
