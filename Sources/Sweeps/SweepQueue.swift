import Foundation

/// Runs a sweep's unfinished runs over a ``ProcessGroup`` with a dynamic queue.
///
/// In one process the runs go in grid order. Over MPI, rank 0 holds the queue and hands the
/// next run to whichever rank asks first, so long and short runs balance themselves; rank 0
/// trains runs too and answers requests between batches (the `service` closure the
/// executor calls). Each worker sends its run's record back with its next request; rank 0
/// stores every record. Which rank runs a run never changes its result.
public struct SweepQueue {
  /// Trains one run and returns its record; calls `service` often (every batch).
  public typealias Execute = (_ run: SweepRun, _ service: () -> Void) -> SweepRecord

  private static let requestTag: Int32 = 1
  private static let assignmentTag: Int32 = 2
  private static let stop = -1

  /// The sweep's runs.
  public let runs: [SweepRun]
  /// The processes.
  public let group: ProcessGroup

  /// A queue of `runs` over `group`.
  public init(runs: [SweepRun], group: ProcessGroup) {
    self.runs = runs
    self.group = group
  }

  /// Rank 0: runs `pending` (indices into ``runs``) over every rank and hands each record
  /// to `store` as it arrives. Other ranks: train what rank 0 assigns until told to stop.
  public func run(
    pending: [Int], execute: Execute, store: @escaping (SweepRun, SweepRecord) throws -> Void
  ) throws {
    if group.size == 1 {
      for index in pending { try store(runs[index], execute(runs[index], {})) }
    } else if group.rank == 0 {
      try coordinate(pending: pending, execute: execute, store: store)
    } else {
      work(execute: execute)
    }
  }

  private func coordinate(
    pending: [Int], execute: Execute, store: @escaping (SweepRun, SweepRecord) throws -> Void
  ) throws {
    var queue = pending[...]
    var stopped = 0
    var storeError: Error?
    func answer(_ source: Int) {
      let bytes = group.receive(from: source, tag: Self.requestTag)
      if !bytes.isEmpty, let record = try? SweepRecord(json: Data(bytes)),
        runs.indices.contains(record.index)
      {
        do { try store(runs[record.index], record) } catch { storeError = storeError ?? error }
      }
      let next = queue.popFirst() ?? Self.stop
      if next == Self.stop { stopped += 1 }
      group.send(Self.bytes(of: next), to: source, tag: Self.assignmentTag)
    }
    func service() {
      while let source = group.pendingSource(tag: Self.requestTag) { answer(source) }
    }
    while let index = queue.popFirst() {
      let record = execute(runs[index], service)
      try store(runs[index], record)
      service()
    }
    while stopped < group.size - 1 {
      if let source = group.pendingSource(tag: Self.requestTag) {
        answer(source)
      } else {
        usleep(2_000)
      }
    }
    if let storeError { throw storeError }
  }

  private func work(execute: Execute) {
    var reply: [UInt8] = []
    while true {
      group.send(reply, to: 0, tag: Self.requestTag)
      let assignment = Self.integer(group.receive(from: 0, tag: Self.assignmentTag))
      guard assignment != Self.stop, runs.indices.contains(assignment) else { return }
      let record = execute(runs[assignment], {})
      reply = (try? record.line()).map(Array.init) ?? []
    }
  }

  private static func bytes(of value: Int) -> [UInt8] {
    withUnsafeBytes(of: Int64(value).littleEndian, Array.init)
  }

  private static func integer(_ bytes: [UInt8]) -> Int {
    guard bytes.count == 8 else { return stop }
    return Int(Int64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
  }
}
