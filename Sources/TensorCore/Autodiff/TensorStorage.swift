import CBLAS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A tensor's contiguous Float32 buffer, 64-byte aligned.
///
/// Shared by tensors that are views of each other (``Tensor/reshaped(_:)``); optimizers
/// write parameters in place through it.
public final class TensorStorage: @unchecked Sendable {
  /// The first element.
  public let pointer: UnsafeMutablePointer<Float>
  /// The number of elements.
  public let count: Int

  /// Keeps freed training-sized buffers in glibc's heap instead of returning them to the
  /// kernel: every step allocates the same large activations again, and fresh pages cost a
  /// page fault and a clear each (measured: ~8% of a paper-fmnist training step).
  private static let allocatorTuned: Bool = {
    es_keep_large_buffers_in_heap() == 1
  }()

  /// Gives the heap's free pages back to the system.
  ///
  /// Freed buffers stay in the heap for the next training step (the allocator is tuned so),
  /// and buffers of different sizes interleave with long-lived ones, so the free pages a
  /// long run holds only grow. Call between phases (a continual run does after every task);
  /// the next phase faults in the pages it needs again. No live buffer is touched.
  public static func releaseFreeMemory() {
    es_release_free_heap_pages()
  }

  /// Allocates `count` elements, uninitialised.
  init(uninitializedCount count: Int) {
    _ = TensorStorage.allocatorTuned
    var raw: UnsafeMutableRawPointer?
    let bytes = Swift.max(64, count * MemoryLayout<Float>.stride)
    guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
      fatalError("TensorStorage: could not allocate \(bytes) bytes")
    }
    pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    self.count = count
  }

  /// Allocates `count` elements set to `value`.
  convenience init(count: Int, repeating value: Float) {
    self.init(uninitializedCount: count)
    pointer.initialize(repeating: value, count: count)
  }

  deinit { free(pointer) }

  /// The buffer as a read-only buffer pointer.
  public var buffer: UnsafeBufferPointer<Float> {
    UnsafeBufferPointer(start: pointer, count: count)
  }

  /// The buffer as a mutable buffer pointer.
  public var mutableBuffer: UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: pointer, count: count)
  }
}

extension TensorStorage {
  /// A buffer of `count` elements all set to `value`.
  public static func filled(count: Int, value: Float) -> TensorStorage {
    TensorStorage(count: count, repeating: value)
  }
}
