// swift-tools-version:6.0
// ExpertStream: continual-learning research with Mixture-of-Experts, in Swift.
// Module boundaries follow DESIGN.md; imports only point down the list below.

import Foundation
import PackageDescription

/// The CPU the engine's Swift code is compiled for, chosen from the build machine's CPU
/// features the way TensorCore chooses OpenBLAS's core type (never from a vendor or model
/// list): the AVX-512 F/CD/BW/DQ/VL set → `skylake-avx512`, the CPU that introduced it;
/// AVX2 with FMA → `haswell`; otherwise the x86-64 baseline. The kernels' sixteen-lane
/// vectors then run in single registers instead of four SSE halves. Set
/// `EXPERTSTREAM_TARGET_CPU` to override it (`x86-64` builds a binary that runs on any
/// x86-64 machine). Results do not depend on it: no floating-point operation is reordered
/// or fused.
let targetCPU: String? = {
  if let chosen = ProcessInfo.processInfo.environment["EXPERTSTREAM_TARGET_CPU"] {
    return chosen.isEmpty ? nil : chosen
  }
  #if arch(x86_64) && os(Linux)
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return nil }
    let flags = Set(line.split(separator: " ").map(String.init))
    let haswell = ["avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt", "abm"]
    let skylakeAVX512 = haswell + ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
    if skylakeAVX512.allSatisfy(flags.contains) { return "skylake-avx512" }
    if haswell.allSatisfy(flags.contains) { return "haswell" }
  #endif
  return nil
}()
let targetFlags = targetCPU.map { ["-target-cpu", $0] } ?? []

// Compute-heavy modules are optimised in debug builds too, so `swift test` runs the
// engine at near-release speed. Only the kernels' modules drop the bounds and overflow
// checks in release builds (their indices come from shapes their callers check); every
// module that reads a file (scenarios, datasets, checkpoints) keeps them: its readers
// validate every size first, and a check they missed traps instead of reading or writing
// out of bounds.
let optimised: [SwiftSetting] = [
  .unsafeFlags(["-Ounchecked", "-wmo"] + targetFlags, .when(configuration: .release)),
  .unsafeFlags(["-O"] + targetFlags, .when(configuration: .debug)),
]
let optimisedChecked: [SwiftSetting] = [
  .unsafeFlags(["-O", "-wmo"] + targetFlags, .when(configuration: .release)),
  .unsafeFlags(["-O"] + targetFlags, .when(configuration: .debug)),
]

let package = Package(
  name: "ExpertStream",
  products: [
    .library(name: "ExpertStream", targets: ["ExpertStream"]),
    // The command line, for a program that registers its own expert kinds and policies
    // and then hands its arguments to `ExpertStreamTool.main(_:)`.
    .library(name: "ExpertStreamCLI", targets: ["ExpertStreamCLI"]),
    .executable(name: "expertstream", targets: ["expertstream"]),
  ],
  targets: [
    // System libraries. OpenBLAS is not linked: TensorCore loads it with dlopen after
    // choosing OPENBLAS_CORETYPE from the CPU's features (see Sources/TensorCore/Kernels/BLAS.swift).
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
    .systemLibrary(
      name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),
    .systemLibrary(
      name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev"])]),
    .systemLibrary(
      name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),

    .target(name: "TensorCore", dependencies: ["CBLAS"], swiftSettings: optimised),
    .target(name: "NN", dependencies: ["TensorCore"], swiftSettings: optimised),
    .target(
      name: "Datasets", dependencies: ["TensorCore", "CZlib"], swiftSettings: optimisedChecked),
    .target(name: "MoE", dependencies: ["NN"], swiftSettings: optimised),
    .target(
      name: "Continual", dependencies: ["MoE", "Datasets"], swiftSettings: optimisedChecked),
    .target(
      name: "Checkpoints", dependencies: ["Continual", "CHDF5"], swiftSettings: optimisedChecked),
    .target(
      name: "Experiments", dependencies: ["Checkpoints"], swiftSettings: optimisedChecked),
    .target(name: "Sweeps", dependencies: ["Experiments", "CMPI"]),
    // Workloads of `expertstream bench`: what is timed, FLOP counts, measurements.
    .target(name: "Benchmarks", dependencies: ["Experiments"], swiftSettings: optimisedChecked),
    // SVG figures (heat-maps, line and bar charts), the report of continual runs from their
    // checkpoints and of sweeps from their summary, checkpoint summaries as text and JSON,
    // markdown notebooks' checks.
    .target(name: "Reports", dependencies: ["Sweeps", "CZlib"]),
    .target(
      name: "ExpertStream",
      dependencies: [
        "TensorCore", "NN", "MoE", "Datasets", "Continual", "Checkpoints", "Experiments", "Sweeps",
        "Benchmarks", "Reports",
      ]),
    .target(
      name: "ExpertStreamCLI",
      // The modules are listed (and imported) directly, not only through the umbrella:
      // incremental builds track direct imports only, and missed changes behind
      // `@_exported` imports left stale objects.
      dependencies: [
        "ExpertStream", "TensorCore", "NN", "MoE", "Datasets", "Continual", "Checkpoints",
        "Experiments", "Sweeps", "Benchmarks", "Reports",
      ], swiftSettings: optimisedChecked),
    .executableTarget(name: "expertstream", dependencies: ["ExpertStreamCLI"]),
    // The example of notebooks-md/04-custom-experts.md: a user-defined expert type and
    // policy, registered by name for the command line.
    .executableTarget(
      name: "custom-expert-example", dependencies: ["ExpertStream", "ExpertStreamCLI"],
      path: "Sources/CustomExpertExample"),

    // Post hoc evidence-routing probe of notebooks-md/replay-free.md.
    .executableTarget(
      name: "evidence-probe", dependencies: ["Continual", "MoE", "NN", "TensorCore", "Datasets"],
      path: "benchmarks/evidence/probe", swiftSettings: optimisedChecked),

    .target(name: "_TestSupport", dependencies: ["TensorCore"], path: "Sources/_TestSupport"),
    // Small generated task streams for the tests of Continual and the modules above it.
    .target(
      name: "_ContinualTestSupport", dependencies: ["Continual"],
      path: "Sources/_ContinualTestSupport"),
    .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"]),
    .testTarget(
      name: "NNTests", dependencies: ["NN", "_TestSupport"], exclude: ["pytorch_constants.py"]),
    .testTarget(
      name: "ContinualTests", dependencies: ["Continual", "_TestSupport", "_ContinualTestSupport"]),
    .testTarget(
      name: "CheckpointsTests",
      dependencies: ["Checkpoints", "_TestSupport", "_ContinualTestSupport"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "_TestSupport"]),
    .testTarget(name: "MoETests", dependencies: ["MoE", "_TestSupport"]),
    .testTarget(
      name: "ExperimentsTests",
      dependencies: ["Experiments", "_TestSupport", "_ContinualTestSupport"]),
    .testTarget(
      name: "SweepsTests", dependencies: ["Sweeps", "_TestSupport", "_ContinualTestSupport"]),
    // CZlib: the test that opens a report in Chromium decodes its screenshots.
    .testTarget(
      name: "ReportsTests",
      dependencies: ["Reports", "CZlib", "_TestSupport", "_ContinualTestSupport"]),
    .testTarget(
      name: "ExpertStreamCLITests", dependencies: ["ExpertStreamCLI", "Reports", "_TestSupport"]),
  ],
  swiftLanguageModes: [.v5]
)
