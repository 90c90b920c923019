import Checkpoints
import Continual
import Datasets
import Experiments
import Foundation
import MoE

/// Runs a sweep's unfinished runs into its output directory, in one process or over the
/// ranks of an MPI job, and returns the summary.
///
/// Every run trains in `runs/<id>` (checkpoints after every task for continual runs,
/// `model.h5` for paper runs, `metrics.json` for both); rank 0 stores each ended run's
/// ``SweepRecord`` (see ``SweepStore``) and, at the end, returns the ``SweepSummary``
/// (Reports writes it to `summary.md` with its figure). A run that fails is
/// recorded with its error, and the sweep goes on. Runs finished in an earlier sweep into
/// the same directory are skipped; a continual run cut short resumes from its newest
/// checkpoint.
public final class SweepRunner {
  /// What a sweep reports while it runs.
  public enum Event {
    /// Rank 0, before any run: `runs` in the grid, `finished` of them already finished, over
    /// `processes` processes.
    case started(runs: Int, finished: Int, processes: Int)
    /// This process starts `run`.
    case runStarted(SweepRun)
    /// Something a run reports on the side: a note, or where it resumed from.
    case note(String)
    /// What a continual run's experiment reports as it trains (every event, notes and
    /// resumes included).
    case experiment(SweepRun, ContinualExperiment.Event)
    /// This process ended `run` with `record`.
    case runEnded(SweepRun, SweepRecord)
    /// Rank 0 stored a record: `done` of `total` runs are finished, after `elapsed` seconds
    /// of this sweep, with an estimated `remaining` seconds left.
    case stored(done: Int, total: Int, elapsed: Double, remaining: Double)
    /// An error ends this rank of an MPI job; the other ranks are ended (`MPI_Abort`) right
    /// after this event, as they would wait for this one forever.
    case aborting(Error)
  }

  /// The sweep.
  public let plan: SweepPlan
  /// Its store: the output directory.
  public let store: SweepStore
  /// Where to look for the datasets first. In a sweep whose runs read several datasets, it
  /// serves those it holds files of, and the others come from their usual places; a
  /// directory holding none of them is an error, as in a sweep of one dataset.
  public let dataDirectory: String?
  /// The processes sharing the sweep.
  public let group: ProcessGroup
  /// Loads a run's training and test datasets (by default, the scenario's from the registry,
  /// looking in ``dataDirectory`` first).
  public let loadDatasets: DatasetLoader
  /// The version recorded in checkpoints and model files.
  public let toolVersion: String
  private var datasets: [String: (train: Dataset, test: Dataset)] = [:]

  /// Loads the training and test datasets of a run's scenario.
  public typealias DatasetLoader = (Scenario) throws -> (train: Dataset, test: Dataset)

  /// A runner of `plan` into `directory` (created when missing) over `group`.
  ///
  /// Datasets are loaded once per process for every dataset setting of the runs (with
  /// `loadDatasets` when given); a loader's error fails the run, recorded.
  /// - Throws: ``FileSystemError`` naming the directory that cannot be created and why.
  public init(
    plan: SweepPlan, directory: String, dataDirectory: String? = nil,
    group: ProcessGroup = .single, toolVersion: String = ExpertStreamVersion.current,
    loadDatasets: DatasetLoader? = nil
  ) throws {
    self.plan = plan
    self.store = try SweepStore(directory: directory, runs: plan.runs)
    self.dataDirectory = dataDirectory
    self.group = group
    self.toolVersion = toolVersion
    let names = Set(plan.runs.map(\.scenario.dataset.name))
    let sharedDirectory = dataDirectory.flatMap { directory in
      names.count > 1 && names.contains { DatasetRegistry.holdsFiles(of: $0, in: directory) }
        ? directory : nil
    }
    self.loadDatasets =
      loadDatasets ?? { scenario in
        do {
          return try scenario.loadDatasets(dataDirectory: dataDirectory)
        } catch let error as DatasetError {
          // A directory serving several datasets may hold another one's files (MNIST and
          // FashionMNIST share file names) or none of this one's.
          guard let sharedDirectory else { throw error }
          switch error {
          case .otherDataset(_, let found, _) where names.contains(found): break
          case .badDataDirectory
          where !DatasetRegistry.holdsFiles(of: scenario.dataset.name, in: sharedDirectory):
            break
          default: throw error
          }
          return try scenario.loadDatasets(dataDirectory: nil)
        }
      }
  }

  /// Runs every unfinished run; on rank 0, then returns the summary (`nil` on the other
  /// ranks).
  ///
  /// Rank 0 takes the directory's lock first and tells every rank whether to go on.
  /// - Throws: ``SweepError/locked(directory:message:)`` on rank 0 when another sweep holds
  ///   the directory (the other ranks then return `nil`); ``FileSystemError`` when a record
  ///   cannot be written.
  public func run(events: (Event) -> Void = { _ in }) throws -> SweepSummary? {
    let (store, group) = (self.store, self.group)
    var lockError: Error?
    if group.rank == 0 {
      do { try store.lock() } catch { lockError = error }
    }
    guard group.broadcast(lockError == nil ? 1 : 0) == 1 else {
      if let lockError { throw lockError }
      return nil
    }
    let runs = plan.runs
    let pending = runs.indices.filter { !store.isFinished(runs[$0]) }
    let started = Date()
    if group.rank == 0 {
      events(
        .started(runs: runs.count, finished: runs.count - pending.count, processes: group.size))
    }
    var finishedHere = 0
    do {
      // The queue keeps `store` only while it runs.
      try withoutActuallyEscaping(events) { events in
        try SweepQueue(runs: runs, group: group).run(
          pending: pending,
          execute: { run, service in
            events(.runStarted(run))
            let record = execute(run, service: service, events: events)
            events(.runEnded(run, record))
            return record
          },
          store: { run, record in
            try store.store(record, for: run)
            finishedHere += 1
            guard group.rank == 0 else { return }
            let elapsed = Date().timeIntervalSince(started)
            events(
              .stored(
                done: finishedHere + runs.count - pending.count, total: runs.count,
                elapsed: elapsed,
                remaining: elapsed / Double(finishedHere) * Double(pending.count - finishedHere)))
          })
      }
    } catch {
      if group.size > 1 {
        events(.aborting(error))
        group.abort(code: 1)
      }
      throw error
    }
    guard group.rank == 0 else { return nil }
    // Also when nothing ran: the grid may have grown since the records were written.
    try store.writeResults()
    return SweepSummary(plan: plan, records: store.records())
  }

  /// Trains `run` in its directory and returns its record; a failure is recorded, not
  /// thrown.
  ///
  /// `service` is called between batches (rank 0 answers the other ranks there). The
  /// datasets are loaded once per process and kept for the next runs.
  public func execute(
    _ run: SweepRun, service: () -> Void = {}, events: (Event) -> Void = { _ in }
  ) -> SweepRecord {
    let started = Date()
    let directory = store.directory(of: run)
    do {
      var scenario = try Scenario.load(plan.scenarioPath, overrides: run.overrides)
      scenario.checkpoint.directory = directory
      let key = "\(scenario.dataset)"
      if datasets[key] == nil {
        datasets[key] = try loadDatasets(scenario)
      }
      let (train, test) = datasets[key]!
      try FileSystem.createDirectory(directory)
      let metrics: RunMetrics
      if scenario.mode == .paper {
        let experiment = try PaperComparison(
          scenario: scenario, file: plan.scenarioPath, train: train, test: test
        ).experiment
        let (result, model) = try experiment.run(
          PaperMethod(rawValue: run.variant)!, seed: UInt64(run.seed)
        ) { _ in service() }
        metrics = .paper(PaperMetrics(result))
        try ModelFile.write(
          model, to: "\(directory)/model.h5",
          attributes: [
            "method": run.variant, "scenario_hash": scenario.hash,
            "architecture": scenario.model.expert.rawValue, "dataset": result.dataset,
          ], seed: run.seed, testError: result.test.error, storedSamples: 0,
          toolVersion: toolVersion)
      } else {
        let experiment = ContinualExperiment(
          scenario: scenario, stream: TaskStream(scenario: scenario, train: train, test: test),
          checkpointDirectory: directory, toolVersion: toolVersion)
        let result = try experiment.resume { event in
          events(.experiment(run, event))
          if case .note(let text) = event { events(.note("\(run.id): \(text)")) }
          if case .resumed(let file, let done, let of) = event {
            events(.note("resuming \(run.id) from \(file): \(done) of \(of) tasks done"))
          }
          service()
        }
        metrics = .continual(result.metrics)
      }
      try FileSystem.writeAtomically(
        try JSONOutput.data(encoding: metrics, pretty: true), to: "\(directory)/metrics.json")
      return SweepRecord(
        finished: run, metrics: metrics, seconds: Date().timeIntervalSince(started))
    } catch {
      return SweepRecord(failed: run, error: error, seconds: Date().timeIntervalSince(started))
    }
  }
}
