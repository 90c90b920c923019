import Dispatch
import Foundation

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
  /// Thread `t` takes chunks `t`, `t + threads`, …; each chunk must write only its own
  /// outputs.
  public static func parallelFor(_ chunks: Int, _ body: (Int) -> Void) {
    let workers = min(threads, chunks)
    if workers <= 1 {
      for chunk in 0..<chunks { body(chunk) }
      return
    }
    withoutActuallyEscaping(body) { body in
      let shared = UnsafeSendable(body)
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var chunk = worker
        while chunk < chunks {
          shared.value(chunk)
          chunk += workers
        }
      }
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

/// Carries a value the caller guarantees is used race-free across threads (disjoint writes).
struct UnsafeSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}
