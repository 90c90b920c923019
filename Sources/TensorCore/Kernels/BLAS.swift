import CBLAS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// OpenBLAS, loaded at run time so the engine chooses its kernels itself.
///
/// The library reads `OPENBLAS_CORETYPE` once, when it is loaded, so TensorCore does not
/// link it: the first BLAS call sets the variable from ``Numerics/current`` and only then
/// `dlopen`s the library. Portable numerics (the default) set `Haswell` on every CPU, so
/// results are the same on AVX2-only and AVX-512 machines; native numerics probe the CPU's
/// features (AVX-512F → `SkylakeX`, AVX2 → `Haswell`) unless the user set the variable.
/// Debian's OpenBLAS 0.3.21 does not recognise recent CPUs by itself (an AVX-512 Xeon is
/// reported as "Prescott", 8× below the machine's speed). A researcher's own program that
/// imports ExpertStream gets the same behaviour.
///
/// The engine owns the parallelism: OpenBLAS runs single-threaded and ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``
/// splits large products into blocks whose boundaries depend only on the shape, so results
/// are bit-identical whatever ``Compute/threads`` is.
public enum BLAS {
  typealias SgemmFunction =
    @convention(c) (
      ES_CBLAS_ORDER, ES_CBLAS_TRANSPOSE, ES_CBLAS_TRANSPOSE, Int32, Int32, Int32,
      Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
      Float, UnsafeMutablePointer<Float>?, Int32
    ) -> Void
  typealias SetThreadsFunction = @convention(c) (Int32) -> Void
  typealias CoreNameFunction = @convention(c) () -> UnsafeMutablePointer<CChar>?

  /// The resolved library: its entry points and how the core type was chosen.
  struct Library: @unchecked Sendable {
    let sgemm: SgemmFunction
    let setThreads: SetThreadsFunction?
    let coreName: CoreNameFunction?
    let path: String
    let coreTypeSource: String
    let numerics: Numerics
    let numericsNote: String?
  }

  /// The environment variable that names a BLAS library to load instead of the defaults.
  public static let libraryEnvironmentVariable = "EXPERTSTREAM_BLAS_LIBRARY"

  static let loaded: Result<Library, TensorError> = {
    let result = load()
    loadAttempted = true
    return result
  }()
  nonisolated(unsafe) private static var loadAttempted = false

  /// Whether the library was loaded (or its loading tried) in this process.
  static var isLoaded: Bool { loadAttempted }

  /// The core type OpenBLAS chose to run with, such as `"SkylakeX"`.
  public static var coreType: String {
    guard case .success(let library) = loaded, let name = library.coreName?() else {
      return "unknown"
    }
    return String(cString: name)
  }

  /// Where the core type came from: chosen from CPU features, set by the user, or detected
  /// by OpenBLAS itself.
  public static var coreTypeSource: String {
    (try? loaded.get().coreTypeSource) ?? "not loaded"
  }

  /// The numerics the loaded library gives: ``Numerics/portable`` unless native numerics
  /// were chosen or the CPU cannot run the portable kernels.
  public static var numerics: Numerics {
    (try? loaded.get().numerics) ?? Numerics.current
  }

  /// What produced the results, for records: the numerics and OpenBLAS's core type, such as
  /// `"portable (OpenBLAS Haswell kernels)"` or `"native (OpenBLAS SkylakeX kernels)"`.
  ///
  /// Loads the library if needed; a library named in `EXPERTSTREAM_BLAS_LIBRARY` is named.
  public static var numericsDescription: String {
    guard case .success(let library) = loaded else { return "unknown (BLAS not loaded)" }
    var details = ["OpenBLAS \(coreType) kernels"]
    if getenv(libraryEnvironmentVariable) != nil { details.append("library \(library.path)") }
    if let note = library.numericsNote { details.append(note) }
    return "\(library.numerics.rawValue) (\(details.joined(separator: "; ")))"
  }

  /// The path of the loaded BLAS library.
  public static var libraryPath: String {
    (try? loaded.get().path) ?? "not loaded"
  }

  /// Loads the library now, throwing if it cannot be found.
  ///
  /// Every BLAS call does this by itself; call it early to report a missing library
  /// before any work starts.
  public static func ensureLoaded() throws {
    _ = try loaded.get()
  }

  /// The `OPENBLAS_CORETYPE` native numerics use on this CPU, from its features, or `nil`
  /// to let OpenBLAS decide.
  public static func preferredCoreType() -> String? {
    let features = es_probe_cpu_features()
    if features.avx512f != 0 { return "SkylakeX" }
    if features.avx2 != 0 { return "Haswell" }
    return nil
  }

  private static func load() -> Result<Library, TensorError> {
    if let problem = Numerics.environmentError { return .failure(.blasUnavailable(problem)) }
    let requested = Numerics.current
    let userChoice = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
    var numerics = requested
    var numericsNote: String?
    let source: String
    if requested == .portable && Numerics.cpuRunsPortableKernels {
      setenv("OPENBLAS_CORETYPE", Numerics.portableCoreType, 1)
      source =
        "portable numerics: the same kernels on every CPU"
        + (userChoice.map { " (OPENBLAS_CORETYPE=\($0) ignored; it applies to native numerics)" }
          ?? "")
    } else {
      if requested == .portable {
        numerics = .native
        numericsNote = "portable numerics need AVX2 and FMA, which this CPU lacks"
      }
      if let userChoice {
        source = "OPENBLAS_CORETYPE=\(userChoice) set by the user"
      } else if let choice = preferredCoreType() {
        setenv("OPENBLAS_CORETYPE", choice, 0)
        source = "chosen from CPU features (\(choice == "SkylakeX" ? "AVX-512F" : "AVX2"))"
      } else {
        source = "detected by OpenBLAS"
      }
    }
    var candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"]
    if let user = getenv(libraryEnvironmentVariable) {
      candidates.insert(String(cString: user), at: 0)
    }
    for path in candidates {
      guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL),
        let sgemm = dlsym(handle, "cblas_sgemm")
      else { continue }
      let setThreads = dlsym(handle, "openblas_set_num_threads").map {
        unsafeBitCast($0, to: SetThreadsFunction.self)
      }
      setThreads?(1)
      let coreName = dlsym(handle, "openblas_get_corename").map {
        unsafeBitCast($0, to: CoreNameFunction.self)
      }
      var numerics = numerics
      var numericsNote = numericsNote
      let loadedCore = coreName.flatMap { $0() }.map { String(cString: $0) }
      if numerics == .portable, loadedCore != Numerics.portableCoreType {
        numerics = .native
        numericsNote =
          loadedCore.map {
            "OpenBLAS runs \($0) kernels: it was loaded before ExpertStream could choose them"
          } ?? "\(path) has no OpenBLAS core types to choose from"
      }
      return .success(
        Library(
          sgemm: unsafeBitCast(sgemm, to: SgemmFunction.self), setThreads: setThreads,
          coreName: coreName, path: path, coreTypeSource: source, numerics: numerics,
          numericsNote: numericsNote))
    }
    return .failure(
      .blasUnavailable(
        "could not load OpenBLAS (tried \(candidates.joined(separator: ", "))); "
          + "install it with `apt-get install libopenblas0` or name a library in "
          + "\(libraryEnvironmentVariable)"))
  }

  /// Sets OpenBLAS's own thread count; the engine keeps it at 1 and parallelises itself.
  ///
  /// Only benchmarks that compare against OpenBLAS's own threading change it.
  public static func setLibraryThreads(_ count: Int) throws {
    try loaded.get().setThreads?(Int32(count))
  }

  /// One `cblas_sgemm` call on the calling thread, row-major: C = α·op(A)·op(B) + β·C.
  public static func sgemmSingleCall(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) throws {
    let library = try loaded.get()
    library.sgemm(
      ES_CblasRowMajor, transposeA ? ES_CblasTrans : ES_CblasNoTrans,
      transposeB ? ES_CblasTrans : ES_CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
      a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// Products below this many floating-point operations run as one call.
  static let blockingThreshold = 4_000_000
  /// The most blocks one product is split into.
  static let maximumBlocks = 4
  /// The fewest rows (or columns) of C in one block.
  static let minimumBlockExtent = 32

  /// How ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` splits C[m, n]:
  /// along its rows or its columns, into `blocks` calls of `step` rows or columns (the last
  /// may have fewer).
  static func blocking(m: Int, n: Int, k: Int) -> (splitRows: Bool, blocks: Int, step: Int) {
    let splitRows = m >= n
    let extent = splitRows ? m : n
    let blocks =
      2 * m * n * k < blockingThreshold
      ? 1 : max(1, min(maximumBlocks, extent / minimumBlockExtent))
    return (splitRows, blocks, (extent + blocks - 1) / blocks)
  }

  /// Row-major C = α·op(A)·op(B) + β·C, split into shape-determined blocks run on the
  /// engine's threads.
  ///
  /// C is split along its longer dimension into at most ``maximumBlocks`` blocks, never
  /// along k, so every element is computed by one call with the same inputs whatever the
  /// thread count: results are bit-identical at 1 and N threads.
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
  ) throws {
    let library = try loaded.get()
    let tA = transposeA ? ES_CblasTrans : ES_CblasNoTrans
    let tB = transposeB ? ES_CblasTrans : ES_CblasNoTrans
    let (splitRows, blocks, step) = blocking(m: m, n: n, k: k)
    let extent = splitRows ? m : n
    if blocks == 1 {
      library.sgemm(
        ES_CblasRowMajor, tA, tB, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
        Int32(ldb), beta, c, Int32(ldc))
      return
    }
    let pointers = UnsafeSendable((a, b, c))
    Compute.parallelFor(blocks) { block in
      let (a, b, c) = pointers.value
      let start = block * step
      let size = min(step, extent - start)
      guard size > 0 else { return }
      if splitRows {
        let aBlock = transposeA ? a + start : a + start * lda
        library.sgemm(
          ES_CblasRowMajor, tA, tB, Int32(size), Int32(n), Int32(k), alpha, aBlock,
          Int32(lda), b, Int32(ldb), beta, c + start * ldc, Int32(ldc))
      } else {
        let bBlock = transposeB ? b + start * ldb : b + start
        library.sgemm(
          ES_CblasRowMajor, tA, tB, Int32(m), Int32(size), Int32(k), alpha, a, Int32(lda),
          bBlock, Int32(ldb), beta, c + start, Int32(ldc))
      }
    }
  }
}
