import CBLAS
import Foundation

/// Whether results may depend on the CPU: the same bits on every machine, or the fastest
/// kernels of this one.
///
/// The engine's own kernels sum in an order fixed by the shapes alone and are compiled
/// without reordering or fusing floating-point operations, so only OpenBLAS's `sgemm`
/// depends on the CPU: each core type (`SkylakeX`, `Haswell`, `Sandybridge`, …) has kernels
/// that add in their own order. ``portable`` runs OpenBLAS's `Haswell` kernels on every
/// CPU, so a scenario and seed give bit-identical metrics and checkpoints on AVX2-only and
/// AVX-512 machines alike; ``native`` lets the CPU's features choose the core type
/// (`SkylakeX` on AVX-512), faster on AVX-512 machines but CPU-dependent. Runs record which
/// one produced them (``BLAS/numericsDescription``).
///
/// The choice is made once per process, before the first BLAS call: from
/// ``select(_:)`` or the `EXPERTSTREAM_NUMERICS` environment variable, else ``portable``.
public enum Numerics: String, Sendable, CaseIterable {
  /// The same bits on every x86-64 CPU with AVX2 and FMA (the default).
  case portable
  /// The fastest kernels this CPU has; results differ between CPU types.
  case native

  /// The environment variable that chooses the numerics: `portable` or `native`.
  public static let environmentVariable = "EXPERTSTREAM_NUMERICS"

  /// The OpenBLAS core type portable numerics run everywhere.
  ///
  /// `Haswell` kernels need AVX2 and FMA, which every CPU of the machines this project runs
  /// on has; they take fixed blocking parameters (none read from the cache sizes), so the
  /// summation order depends on the shapes only.
  public static let portableCoreType = "Haswell"

  nonisolated(unsafe) private static var chosen: Numerics?
  private static let lock = NSLock()

  /// The numerics in force: the one selected, else the environment's, else ``portable``.
  ///
  /// Reading it fixes the choice for the rest of the process.
  public static var current: Numerics {
    lock.lock()
    defer { lock.unlock() }
    if let chosen { return chosen }
    let fromEnvironment = ProcessInfo.processInfo.environment[environmentVariable]
      .flatMap(Numerics.init(rawValue:))
    chosen = fromEnvironment ?? .portable
    return chosen!
  }

  /// Chooses the numerics for this process.
  ///
  /// Call it before any tensor work. Choosing again the one in force is allowed; choosing
  /// another after BLAS was loaded throws, since OpenBLAS reads its core type only once.
  public static func select(_ numerics: Numerics) throws {
    lock.lock()
    defer { lock.unlock() }
    if let chosen, chosen != numerics, BLAS.isLoaded {
      throw TensorError.blasUnavailable(
        "numerics are already \(chosen.rawValue) in this process (BLAS was loaded); "
          + "choose \(numerics.rawValue) before any tensor work")
    }
    chosen = numerics
  }

  /// Why the `EXPERTSTREAM_NUMERICS` environment variable cannot be used, if it is set to
  /// neither `portable` nor `native`; BLAS then refuses to load with this message, and a
  /// program can report it before any work.
  public static var environmentError: String? {
    guard let value = ProcessInfo.processInfo.environment[environmentVariable],
      Numerics(rawValue: value) == nil
    else { return nil }
    return "\(environmentVariable)=\(value) is not a numerics mode; use portable (the same "
      + "results on every CPU) or native (this CPU's fastest kernels)"
  }

  /// Whether this CPU runs OpenBLAS's `Haswell` kernels: AVX2 and FMA, usable by the OS.
  static var cpuRunsPortableKernels: Bool {
    let features = es_probe_cpu_features()
    return features.avx2 != 0 && features.fma != 0
  }
}
