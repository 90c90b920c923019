import Foundation

/// A sweep's output directory: one directory per run under `runs/` (its checkpoints and
/// metrics), each ended run's record in `records/<id>.json`, and `results.jsonl` rebuilt
/// from those records in grid order after every run.
///
/// Only rank 0 writes records. A record is written atomically (temporary file, then
/// rename), so a sweep killed at any point leaves whole records or none.
public final class SweepStore {
  /// The output directory.
  public let directory: String
  /// The sweep's runs, in grid order.
  public let runs: [SweepRun]
  private var lockDescriptor: Int32 = -1

  /// The store of `runs` in `directory` (created when missing).
  public init(directory: String, runs: [SweepRun]) throws {
    self.directory = directory
    self.runs = runs
    for subdirectory in ["runs", "records"] {
      try FileManager.default.createDirectory(
        atPath: "\(directory)/\(subdirectory)", withIntermediateDirectories: true)
    }
  }

  deinit {
    if lockDescriptor >= 0 { close(lockDescriptor) }
  }

  /// Takes the directory's lock (`flock` on `.lock`) for the life of this process; the
  /// system releases it when the process ends, even by `kill -9`.
  ///
  /// - Throws: ``SweepError/locked(directory:message:)`` when another sweep holds it.
  public func lock() throws {
    let path = "\(directory)/.lock"
    let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
    guard descriptor >= 0 else {
      throw SweepError.locked(directory: directory, message: "cannot open \(path)")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)
      close(descriptor)
      throw SweepError.locked(
        directory: directory,
        message: "another sweep is writing here"
          + (holder.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
          + "; wait for it to finish or choose another --out")
    }
    let holder = "process \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
    ftruncate(descriptor, 0)
    _ = holder.withCString { write(descriptor, $0, strlen($0)) }
    lockDescriptor = descriptor
  }

  /// Where `run` writes its checkpoints and metrics.
  public func directory(of run: SweepRun) -> String { "\(directory)/runs/\(run.id)" }

  /// `run`'s stored record, or `nil` when it has not finished.
  public func record(of run: SweepRun) -> [String: Any]? {
    guard let data = FileManager.default.contents(atPath: recordPath(of: run)) else { return nil }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
  }

  private func recordPath(of run: SweepRun) -> String { "\(directory)/records/\(run.id).json" }

  /// Whether `run` finished successfully in an earlier or this sweep.
  public func isFinished(_ run: SweepRun) -> Bool {
    record(of: run)?["status"] as? String == "finished"
  }

  /// Stores `record` as `run`'s result and rebuilds `results.jsonl`.
  public func store(_ record: [String: Any], for run: SweepRun) throws {
    try Self.line(record).write(to: URL(fileURLWithPath: recordPath(of: run)), options: .atomic)
    var lines = Data()
    for run in runs {
      guard let stored = self.record(of: run) else { continue }
      lines.append(try Self.line(stored))
      lines.append(UInt8(ascii: "\n"))
    }
    try lines.write(to: URL(fileURLWithPath: "\(directory)/results.jsonl"), options: .atomic)
  }

  /// Every stored record, in grid order.
  public func records() -> [[String: Any]] {
    runs.compactMap { record(of: $0) }
  }

  /// One record as compact JSON with sorted keys.
  static func line(_ record: [String: Any]) throws -> Data {
    try JSONSerialization.data(
      withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
  }
}
