import Dispatch
import Foundation
import Synchronization

/// The engine's worker threads.
///
/// Parallel work is split into chunks whose boundaries depend only on the problem size, and
/// partial results are combined in chunk order, so the thread count changes only the speed,
/// never a bit of the result.
public enum Compute {
  nonisolated(unsafe) private static var threadCount = max(
    1, ProcessInfo.processInfo.activeProcessorCount)

  /// How many threads kernels use; defaults to the number of active cores.
  ///
  /// Set it before starting work; values below 1 are treated as 1.
  public static var threads: Int {
    get { threadCount }
    set { threadCount = max(1, newValue) }
  }

  /// Runs `body` for every chunk index in `0..<chunks`, spread over ``threads`` threads.
  ///
  /// The calling thread and the engine's workers take chunks in turn until none is left,
  /// so a late worker costs nothing; each chunk must write only its own outputs. A call
  /// made while another is running (from inside a chunk, or from a second thread) runs its
  /// chunks on the calling thread.
  public static func parallelFor(_ chunks: Int, _ body: (Int) -> Void) {
    let workers = min(threads, chunks) - 1
    guard workers > 0, WorkerPool.shared.run(chunks, helpers: workers, body) else {
      for chunk in 0..<chunks { body(chunk) }
      return
    }
  }

  /// Splits `count` items into fixed-size chunks (at least `minimumChunk` items, at most
  /// 64 chunks) and runs `body` on each range in parallel.
  public static func parallelRanges(
    _ count: Int, minimumChunk: Int = 32_768, _ body: (Range<Int>) -> Void
  ) {
    let size = chunkSize(count, minimumChunk: minimumChunk)
    let chunks = (count + size - 1) / size
    parallelFor(chunks) { chunk in
      let start = chunk * size
      body(start..<min(count, start + size))
    }
  }

  /// The chunk size ``parallelRanges(_:minimumChunk:_:)`` uses for `count` items.
  public static func chunkSize(_ count: Int, minimumChunk: Int) -> Int {
    max(minimumChunk, (count + 63) / 64, 1)
  }
}

/// Threads that wait for chunks of the engine's parallel loops by spinning for a moment
/// before they sleep: on a virtual machine, waking a sleeping thread takes longer than most
/// of the engine's loops (tens of microseconds), so a pool that sleeps at once leaves
/// the caller to do the work alone.
///
/// One loop runs at a time. Its chunks are claimed through one atomic ticket holding the
/// loop's number, its chunk count and the next chunk, so a worker still busy with an
/// earlier loop can never claim a chunk of the next one.
final class WorkerPool: @unchecked Sendable {
  static let shared = WorkerPool()

  /// How long an idle worker spins before it sleeps.
  private static let spinNanoseconds: UInt64 = 2_000_000
  private static let indexBits = 24
  private static let indexMask = (1 << indexBits) - 1
  /// Loop numbers wrap at 2¹⁵, so that a ticket is never negative.
  private static let numberMask = (1 << 15) - 1

  /// (loop number mod 2¹⁵) << 48 | chunk count << 24 | next chunk.
  private let ticket = Atomic<Int>(0)
  /// Chunks of the current loop finished.
  private let finished = Atomic<Int>(0)
  /// Whether a loop is running: a nested or concurrent call runs serially instead.
  private let running = Atomic<Bool>(false)
  /// Bumped for every loop; idle workers watch it.
  private let loops = Atomic<Int>(0)
  /// How many workers may take chunks of the current loop.
  private let helpers = Atomic<Int>(0)
  /// The current loop's body: written before its ticket is published, read only by a
  /// thread that has claimed one of its chunks, cleared after every chunk finished.
  private var body: ((Int) -> Void)?
  private let workersLock = Mutex<[Worker]>([])

  /// A worker thread's wake-up: `sleeping` is set before it waits on `wake`.
  private final class Worker: @unchecked Sendable {
    let index: Int
    let sleeping = Atomic<Bool>(false)
    let wake = DispatchSemaphore(value: 0)
    init(index: Int) { self.index = index }
  }

  /// Runs `body` over `chunks` chunks with up to `helpers` workers beside the calling
  /// thread; returns `false` (having run nothing) when another loop is running or the
  /// loop does not fit a ticket.
  func run(_ chunks: Int, helpers count: Int, _ body: (Int) -> Void) -> Bool {
    guard chunks <= Self.indexMask,
      running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else { return false }
    let workers = startWorkers(count)
    let number = (loops.load(ordering: .relaxed) + 1) & Self.numberMask
    withoutActuallyEscaping(body) { body in
      self.body = body
      helpers.store(count, ordering: .relaxed)
      finished.store(0, ordering: .relaxed)
      ticket.store(number << 48 | chunks << Self.indexBits, ordering: .releasing)
      loops.wrappingAdd(1, ordering: .sequentiallyConsistent)
      for worker in workers.prefix(count)
      where worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
        worker.wake.signal()
      }
      let ranHere = claimChunks(of: number)
      while finished.load(ordering: .acquiring) < chunks - ranHere {}
      self.body = nil
    }
    running.store(false, ordering: .releasing)
    return true
  }

  /// Claims and runs chunks of loop `number` until none is left; returns how many this
  /// thread ran (the caller's count is not added to `finished`).
  @discardableResult
  private func claimChunks(of number: Int, countingFinished: Bool = false) -> Int {
    var ran = 0
    while true {
      let current = ticket.load(ordering: .acquiring)
      let next = current & Self.indexMask
      let chunks = (current >> Self.indexBits) & Self.indexMask
      guard (current >> 48) & Self.numberMask == number, next < chunks else { return ran }
      guard
        ticket.compareExchange(
          expected: current, desired: current + 1, ordering: .acquiringAndReleasing
        ).exchanged
      else { continue }
      body!(next)
      ran += 1
      if countingFinished { finished.wrappingAdd(1, ordering: .releasing) }
    }
  }

  /// The first `count` workers, started when missing.
  private func startWorkers(_ count: Int) -> [Worker] {
    workersLock.withLock { workers in
      while workers.count < count {
        let worker = Worker(index: workers.count)
        workers.append(worker)
        let thread = Thread { [self] in self.work(as: worker) }
        thread.name = "expertstream-worker-\(worker.index)"
        thread.start()
      }
      return workers
    }
  }

  /// A worker's life: wait for a loop (spinning, then sleeping), take its chunks, repeat.
  private func work(as worker: Worker) {
    // A worker past the machine's cores would spin in the caller's place: it sleeps at once.
    let spinLimit =
      worker.index + 1 < ProcessInfo.processInfo.activeProcessorCount ? Self.spinNanoseconds : 0
    var seen = loops.load(ordering: .acquiring)
    while true {
      var spins = 0
      var spinStart: UInt64 = 0
      while loops.load(ordering: .acquiring) == seen {
        spins += 1
        guard spins & 1023 == 0 else { continue }
        let now = DispatchTime.now().uptimeNanoseconds
        if spinStart == 0 {
          spinStart = now
        } else if now - spinStart >= spinLimit {
          worker.sleeping.store(true, ordering: .sequentiallyConsistent)
          if loops.load(ordering: .sequentiallyConsistent) == seen {
            worker.wake.wait()
          }
          worker.sleeping.store(false, ordering: .sequentiallyConsistent)
          spinStart = 0
        }
      }
      seen = loops.load(ordering: .acquiring)
      guard worker.index < helpers.load(ordering: .relaxed) else { continue }
      let number = (ticket.load(ordering: .acquiring) >> 48) & Self.numberMask
      claimChunks(of: number, countingFinished: true)
    }
  }
}

/// Carries a value the caller guarantees is used race-free across threads (disjoint writes).
struct UnsafeSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}
