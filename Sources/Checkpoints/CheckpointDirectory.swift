import Foundation

/// How a run's checkpoint directory names its files, decided here only: `latest.h5`, the
/// state after the last finished task, and `task_NNN.h5`, the state after task NNN
/// (from 0), when the scenario keeps one per task.
///
/// Nothing else in the directory is a checkpoint: temporary files start with a dot and the
/// lock is `.lock`.
public enum CheckpointDirectory {
  /// The name of the checkpoint after the last finished task.
  public static let latestName = "latest.h5"

  /// The name of the checkpoint after `task` (from 0): `task_000.h5`, `task_001.h5`, ….
  ///
  /// Tasks from 1000 on get more digits (`task_1000.h5`).
  public static func taskName(_ task: Int) -> String {
    String(format: "task_%03d.h5", task)
  }

  /// Whether `name` (a file name, no directory) is one of a checkpoint directory's
  /// checkpoints: `latest.h5` or `task_…h5`.
  public static func isCheckpointName(_ name: String) -> Bool {
    name == latestName || (name.hasPrefix("task_") && name.hasSuffix(".h5"))
  }

  /// Removes the `task_NNN.h5` files of tasks after `task` from `directory`: once a run has
  /// written its checkpoint of `task`, those are left by an earlier run, and a resume must
  /// not pick them.
  ///
  /// Only regular files are removed: a directory or link under such a name stays (and the
  /// run stops when it comes to write that task's checkpoint).
  ///
  /// - Throws: The system's error, naming the file, when one cannot be removed.
  public static func removeTaskCheckpoints(after task: Int, in directory: String) throws {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    for name in names.sorted() where name.hasPrefix("task_") && name.hasSuffix(".h5") {
      guard let number = Int(name.dropFirst("task_".count).dropLast(".h5".count)), number > task
      else { continue }
      let path = "\(directory)/\(name)"
      var status = stat()
      guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
      try FileManager.default.removeItem(atPath: path)
    }
  }

  /// The newest complete checkpoint in `directory`: of `latest.h5` and the `task_NNN.h5`
  /// files, the one that records the most finished tasks (`latest.h5` on a tie), whatever
  /// their names or modification times say; `nil` when there is none.
  ///
  /// A file that cannot be read as a checkpoint is skipped with a note saying why. A
  /// directory that does not exist or cannot be listed holds none.
  public static func newestCompleteCheckpoint(in directory: String) -> (
    file: String?, notes: [String]
  ) {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
      .filter { $0 != latestName && isCheckpointName($0) }.sorted(by: >)
    var newest: (file: String, tasks: Int)?
    var notes: [String] = []
    for name in [latestName] + names {
      let file = "\(directory)/\(name)"
      guard FileManager.default.fileExists(atPath: file) else { continue }
      do {
        let tasks = try Checkpoint.summary(of: file).tasks.count
        if tasks > newest?.tasks ?? -1 { newest = (file, tasks) }
      } catch {
        notes.append("skipped \(file), not a readable checkpoint: \(error)")
      }
    }
    return (newest?.file, notes)
  }

  /// ``newestCompleteCheckpoint(in:)``, or `latest.h5` in `directory` (which may not exist)
  /// when there is none.
  ///
  /// Notes about skipped files are dropped.
  public static func newestCheckpoint(in directory: String) -> String {
    newestCompleteCheckpoint(in: directory).file ?? "\(directory)/\(latestName)"
  }
}
