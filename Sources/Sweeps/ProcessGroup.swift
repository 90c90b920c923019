import CMPI
import Foundation

/// The processes that share a sweep: this process alone, or the ranks of an MPI job.
///
/// MPI is initialised only when a launcher started the process (`mpirun`, `srun`: see
/// ``launchedByMPI(environment:)``), so a sweep runs in one process with no MPI runtime.
/// Only the thread that created the group calls MPI (`MPI_THREAD_FUNNELED`); the engine's
/// worker threads never do.
public final class ProcessGroup {
  /// This process's rank, 0 ..< ``size``.
  public let rank: Int
  /// The number of processes.
  public let size: Int
  /// The number of this group's processes on this machine.
  public let localSize: Int
  private let usesMPI: Bool

  /// Environment variables that launchers set in every rank: Open MPI's `mpirun`, PMIx
  /// (`srun --mpi=pmix`) and PMI (`srun --mpi=pmi2`, MPICH's Hydra).
  public static let launcherVariables = [
    "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
  ]

  /// Whether an MPI launcher started this process.
  public static func launchedByMPI(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> Bool {
    launcherVariables.contains { environment[$0] != nil }
  }

  /// The group of this process alone.
  public static let single = ProcessGroup(rank: 0, size: 1, localSize: 1, usesMPI: false)

  private init(rank: Int, size: Int, localSize: Int, usesMPI: Bool) {
    self.rank = rank
    self.size = size
    self.localSize = localSize
    self.usesMPI = usesMPI
  }

  /// Joins the MPI job when a launcher started this process, else returns ``single``.
  ///
  /// - Throws: ``SweepError/messagePassing(_:)`` when `MPI_Init_thread` fails.
  public static func start(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> ProcessGroup {
    guard launchedByMPI(environment: environment) else { return single }
    var provided: Int32 = 0
    guard MPI_Init_thread(nil, nil, es_MPI_THREAD_FUNNELED(), &provided) == es_MPI_SUCCESS()
    else {
      throw SweepError.messagePassing("MPI_Init_thread failed")
    }
    var rank: Int32 = 0
    var size: Int32 = 0
    MPI_Comm_rank(es_MPI_COMM_WORLD(), &rank)
    MPI_Comm_size(es_MPI_COMM_WORLD(), &size)
    let local =
      environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init)
      ?? environment["SLURM_NTASKS_PER_NODE"].flatMap(Int.init) ?? Int(size)
    return ProcessGroup(rank: Int(rank), size: Int(size), localSize: max(1, local), usesMPI: true)
  }

  /// Leaves the MPI job (`MPI_Finalize`); nothing without MPI.
  public func finish() {
    if usesMPI { MPI_Finalize() }
  }

  /// Ends every rank of the job with `code` (`MPI_Abort`), for an error that leaves the
  /// others waiting; without MPI, nothing (the caller's error ends this process).
  public func abort(code: Int32) {
    if usesMPI && size > 1 { MPI_Abort(es_MPI_COMM_WORLD(), code) }
  }

  /// Rank 0's `value`, in every rank.
  public func broadcast(_ value: Int) -> Int {
    guard usesMPI else { return value }
    var buffer = Int64(value)
    MPI_Bcast(&buffer, 1, es_MPI_INT64_T(), 0, es_MPI_COMM_WORLD())
    return Int(buffer)
  }

  /// Sends `bytes` to rank `destination` with `tag` (blocking).
  func send(_ bytes: [UInt8], to destination: Int, tag: Int32) {
    precondition(usesMPI, "send needs an MPI job")
    var bytes = bytes
    bytes.withUnsafeMutableBytes { buffer in
      _ = MPI_Send(
        buffer.baseAddress, Int32(buffer.count), es_MPI_BYTE(), Int32(destination), tag,
        es_MPI_COMM_WORLD())
    }
  }

  /// The source of a waiting message with `tag` from any rank, or `nil` (does not block).
  func pendingSource(tag: Int32) -> Int? {
    guard usesMPI else { return nil }
    var flag: Int32 = 0
    var status = MPI_Status()
    MPI_Iprobe(es_MPI_ANY_SOURCE(), tag, es_MPI_COMM_WORLD(), &flag, &status)
    return flag != 0 ? Int(status.MPI_SOURCE) : nil
  }

  /// Receives the next message with `tag` from rank `source` (blocking).
  func receive(from source: Int, tag: Int32) -> [UInt8] {
    precondition(usesMPI, "receive needs an MPI job")
    var status = MPI_Status()
    MPI_Probe(Int32(source), tag, es_MPI_COMM_WORLD(), &status)
    var count: Int32 = 0
    MPI_Get_count(&status, es_MPI_BYTE(), &count)
    var bytes = [UInt8](repeating: 0, count: Int(count))
    bytes.withUnsafeMutableBytes { buffer in
      _ = MPI_Recv(
        buffer.baseAddress, count, es_MPI_BYTE(), Int32(source), tag, es_MPI_COMM_WORLD(),
        &status)
    }
    return bytes
  }
}
