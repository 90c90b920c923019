import Checkpoints
import Continual
import Foundation
import MoE
import TensorCore

/// A continual run with a home: a scenario's task stream trained under one lifecycle
/// policy, with a checkpoint written after every task and resume from any of them.
///
/// The checkpoint directory is claimed before anything is trained (see
/// ``claimCheckpointDirectory(_:)``) and held for the whole run, so two runs never write
/// into one directory. Every task writes `latest.h5`, and `task_NNN.h5` too when the
/// scenario's `checkpoint.every_task` asks (see ``CheckpointDirectory``). A run resumed
/// from a checkpoint ends bit-identical to one that was never stopped.
public struct ContinualExperiment {
  /// What a run reports, in order, to its `events` closure.
  public enum Event {
    /// Something done on the side, such as removing a killed process's temporary file or
    /// skipping an unreadable checkpoint.
    case note(String)
    /// Restored from `file`, with `done` of `of` tasks finished.
    case resumed(file: String, done: Int, of: Int)
    /// The run's own progress; `.taskFinished` comes after that task's checkpoints are
    /// written.
    case progress(ContinualProgress)
  }

  /// The scenario: model, training, lifecycle and checkpoint settings.
  public let scenario: Scenario
  /// The tasks to train, in order.
  public let stream: TaskStream
  /// The lifecycle policy's name (the scenario's unless given at initialisation): a
  /// built-in or registered policy (see ``PolicyName/register(_:)``), so that its
  /// checkpoints resume by name.
  public let policy: PolicyName
  /// Where the checkpoints go; created when missing.
  public let checkpointDirectory: String
  /// Builds every expert (initial and spawned) instead of the scenario's `model.expert`
  /// kind; `nil` for the scenario's (built-in or registered, see
  /// ``ExpertKind/register(_:make:)``).
  public let makeExpert: ((ExpertContext, inout RandomGenerator) throws -> any Expert)?
  /// The version recorded in every checkpoint as the writer's (by default
  /// ``ExpertStreamVersion/current``).
  public let toolVersion: String

  /// An experiment training `stream` under `policy` (the scenario's lifecycle policy unless
  /// given), checkpointed into `checkpointDirectory`.
  ///
  /// Nothing is checked or touched until ``run(resumingFrom:events:)``; an unknown policy
  /// or expert kind is reported then. A checkpoint of a run with a custom `makeExpert` can
  /// only be resumed by an experiment with the same expert type; one of a registered kind
  /// by any experiment (or `Checkpoint.load`) in a process that registered it.
  public init(
    scenario: Scenario, stream: TaskStream, checkpointDirectory: String, policy: PolicyName? = nil,
    toolVersion: String = ExpertStreamVersion.current,
    makeExpert: ((ExpertContext, inout RandomGenerator) throws -> any Expert)? = nil
  ) {
    self.scenario = scenario
    self.stream = stream
    self.policy = policy ?? scenario.lifecycle.policy
    self.checkpointDirectory = checkpointDirectory
    self.toolVersion = toolVersion
    self.makeExpert = makeExpert
  }

  /// Trains the stream from the first task, or with `file` restores that checkpoint first
  /// and continues with the task after its last one, writing checkpoints after every task
  /// (and removing the files of later tasks an earlier run left in the directory).
  ///
  /// A checkpoint that cannot be written stops the run there, and so does an error
  /// `events` throws (after the checkpoints of a finished task; the error is rethrown).
  /// Resuming from a file other than the directory's `latest.h5` first brings `latest.h5`
  /// up to that state, even when no task is left to train.
  ///
  /// - Throws: ``CheckpointDirectoryError`` when the directory cannot be used (nothing
  ///   trained); ``CheckpointWriteError`` when a checkpoint cannot be written; the
  ///   checkpoint reader's error when `file` cannot be restored.
  public func run(
    resumingFrom file: String? = nil, events: (Event) throws -> Void = { _ in }
  ) throws -> ContinualResult {
    let directory = checkpointDirectory
    let (lock, removed) = try Self.claimCheckpointDirectory(directory)
    return try withExtendedLifetime(lock) {
      for name in removed {
        try events(.note("removed \(directory)/\(name), left by a process that no longer runs"))
      }
      let run = try ContinualRun(
        scenario: scenario, stream: stream, policy: policy, makeExpert: makeExpert)
      let tasks = stream.tasks.count
      func write(_ names: [String], afterTask task: Int) throws {
        let state = run.state
        for name in names {
          do {
            try Checkpoint.write(state, to: "\(directory)/\(name)", toolVersion: toolVersion)
          } catch {
            throw CheckpointWriteError(
              error: error, directory: directory, task: task, tasks: tasks)
          }
        }
        // Later tasks' files in the directory are an earlier run's: a resume must not pick
        // them over this run's checkpoint.
        do {
          try CheckpointDirectory.removeTaskCheckpoints(after: task, in: directory)
        } catch {
          throw CheckpointWriteError(
            error: error, directory: directory, task: task, tasks: tasks)
        }
      }
      let latest = CheckpointDirectory.latestName
      if let file {
        let state = try Checkpoint.read(file)
        try Checkpoint.restore(run, from: state, file: file)
        let reports = state.reports
        try events(.resumed(file: file, done: reports.count, of: tasks))
        // A kill between a task's file and latest.h5 left latest.h5 behind: bring it up to
        // the state resumed from, even when no task is left to train.
        if let last = reports.last, file != "\(directory)/\(latest)" {
          try write([latest], afterTask: last.task)
        }
      }
      return try run.run { event in
        if case .taskFinished(let finished) = event {
          try write(
            scenario.checkpoint.everyTask
              ? [CheckpointDirectory.taskName(finished.task), latest] : [latest],
            afterTask: finished.task)
        }
        try events(.progress(event))
      }
    }
  }

  /// Continues from the newest complete checkpoint in the checkpoint directory (see
  /// ``CheckpointDirectory/newestCompleteCheckpoint(in:)``), as
  /// ``run(resumingFrom:events:)`` does.
  ///
  /// Unreadable checkpoints are skipped, each with a `.note` event first. A directory
  /// holding no checkpoint (or not existing yet) starts from the first task.
  public func resume(events: (Event) throws -> Void = { _ in }) throws -> ContinualResult {
    let (newest, notes) = CheckpointDirectory.newestCompleteCheckpoint(in: checkpointDirectory)
    for note in notes { try events(.note(note)) }
    return try run(resumingFrom: newest, events: events)
  }

  /// Makes `directory` ready for a run's checkpoints, before anything is trained: creates
  /// it, checks with a probe file that files can be created, written, synced and renamed
  /// there, takes its lock (`.lock`, held until the returned lock is released) and removes
  /// the temporary files of killed processes (returning their names).
  ///
  /// - Throws: ``CheckpointDirectoryError`` naming the directory and the reason, or the
  ///   process holding the lock.
  public static func claimCheckpointDirectory(_ directory: String) throws -> (
    lock: DirectoryLock, removed: [String]
  ) {
    let hint = "choose another checkpoint directory: --set checkpoint.directory=DIR"
    do {
      try FileSystem.createDirectory(directory)
      try FileSystem.checkWritable(directory)
      let lock = try DirectoryLock("\(directory)/.lock")
      return (lock, FileSystem.removeAbandonedTemporaries(in: directory))
    } catch let error as FileSystemError {
      throw CheckpointDirectoryError(problem: error.description, hint: hint)
    } catch let held as DirectoryLock.Held {
      throw CheckpointDirectoryError(
        problem: "\(directory): another run is writing checkpoints here"
          + (held.holder.map { " (\($0))" } ?? ""),
        hint: "wait for it to finish, or " + hint)
    }
  }
}

/// A checkpoint directory that cannot be used: the path, the reason and what to do
/// instead. Nothing was trained.
///
/// The hint names the command line's way to choose another directory.
public struct CheckpointDirectoryError: Error, CustomStringConvertible {
  /// The path and why it cannot be used.
  public let problem: String
  /// What to do instead.
  public let hint: String

  /// An error saying `problem`, then `hint`.
  public init(problem: String, hint: String) {
    self.problem = problem
    self.hint = hint
  }

  public var description: String { "\(problem)\nhint: \(hint)" }
}

/// A checkpoint that could not be written: the run stopped at that task.
///
/// The checkpoints of the tasks before it are complete; resuming continues from the newest.
public struct CheckpointWriteError: Error, CustomStringConvertible {
  /// Why the write failed (names the file and the reason).
  public let error: Error
  /// The checkpoint directory.
  public let directory: String
  /// The task (from 0) whose checkpoint failed.
  public let task: Int
  /// The number of tasks in the run.
  public let tasks: Int

  /// The failure `error` writing the checkpoint of `task` (from 0) of `tasks` into
  /// `directory`.
  public init(error: Error, directory: String, task: Int, tasks: Int) {
    self.error = error
    self.directory = directory
    self.task = task
    self.tasks = tasks
  }

  public var description: String {
    "\(error)\nthe run stopped after task \(task) (of \(tasks)), whose checkpoint could not be "
      + "written\nhint: make room in \(directory) (or fix it), then run again"
      + (task > 0 ? " with --resume to continue from its newest complete checkpoint" : "")
  }
}
