import Foundation
import Testing
import _TestSupport

/// Runs the built `expertstream` in `directory` with `environment` (no numerics or core
/// type inherited from the machine's); returns its exit status and output.
private func spawn(
  _ arguments: [String], in directory: String, environment: [String: String]
) throws -> (status: Int32, output: String) {
  var variables: [String: String?] = ["OPENBLAS_CORETYPE": nil, "EXPERTSTREAM_NUMERICS": nil]
  for (name, value) in environment { variables[name] = value }
  return try runProgram(executable!, arguments, in: directory, environment: variables)
}

/// `scripts/compare-runs.sh A B`: whether every checkpoint and metrics file is bit-identical,
/// leaving out the names `ignoring` matches besides timings.
private func compareRuns(_ a: String, _ b: String, ignoring: String = "") throws -> (
  identical: Bool, output: String
) {
  let comparison = try runProgram(
    "/bin/bash", ["\(repositoryRoot)/scripts/compare-runs.sh", a, b],
    environment: ["COMPARE_RUNS_IGNORE": ignoring])
  return (comparison.status == 0, comparison.output)
}

/// The quick scenario and notebook 02's small paper block, run in `directory`.
private func runQuickAndPaper(in directory: String, environment: [String: String], threads: Int)
  throws
{
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  let quick = try spawn(
    [
      "run", quickScenario, "--quiet", "--threads", "\(threads)",
      "--set", "checkpoint.directory=quick", "--metrics-json", "quick/metrics.json",
    ], in: directory, environment: environment)
  #expect(quick.status == 0, "\(quick.output)")
  let paper = try spawn(
    [
      "run", "\(repositoryRoot)/tasks/paper-fashion-mnist.json", "--quiet", "--threads",
      "\(threads)", "--method", "original,attentive+ls,distilled", "--seeds", "1",
      "--set", "training.epochs=2", "--set", "training.batch_size=128",
      "--set", "paper.distillation_epochs=1", "--set", "dataset.train_samples_per_class=150",
      "--set", "dataset.test_samples_per_class=50", "--set", "paper.distill_from=attentive+ls",
      "--metrics-json", "paper/metrics.json",
    ], in: directory, environment: environment)
  #expect(paper.status == 0, "\(paper.output)")
}

/// Portable numerics give the same bits whatever OpenBLAS core type the machine's
/// environment names and at any thread count; native numerics follow the core type (the
/// comparison can tell them apart). Two `-target-cpu` builds are compared by
/// `scripts/check-identity.sh`, which CI runs.
@Suite(
  .enabled(
    if: hasFashionMNIST && executable != nil
      && FileManager.default.isExecutableFile(atPath: "/usr/bin/h5dump"),
    "needs dataset-fashion-mnist, hdf5-tools and the built binary"),
  .serialized)
struct NumericsIdentityTests {
  let root = NSTemporaryDirectory() + "expertstream-identity-\(UUID().uuidString)"

  @Test func portableNumericsIgnoreTheCoreTypeAndThreadCount() throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    try runQuickAndPaper(in: "\(root)/default", environment: [:], threads: 2)
    try runQuickAndPaper(
      in: "\(root)/skylakex", environment: ["OPENBLAS_CORETYPE": "SkylakeX"], threads: 1)
    try runQuickAndPaper(
      in: "\(root)/sandybridge", environment: ["OPENBLAS_CORETYPE": "Sandybridge"], threads: 2)
    let skylakeX = try compareRuns("\(root)/default", "\(root)/skylakex")
    #expect(skylakeX.identical, "\(skylakeX.output)")
    let sandybridge = try compareRuns("\(root)/default", "\(root)/sandybridge")
    #expect(sandybridge.identical, "\(sandybridge.output)")
  }

  @Test func nativeNumericsFollowTheCoreType() throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    try runQuickAndPaper(in: "\(root)/portable", environment: [:], threads: 2)
    try runQuickAndPaper(
      in: "\(root)/native",
      environment: ["EXPERTSTREAM_NUMERICS": "native", "OPENBLAS_CORETYPE": "Sandybridge"],
      threads: 2)
    // The records say which numerics produced them; the data differ too.
    for run in ["quick", "paper"] {
      let portable = try String(
        contentsOfFile: "\(root)/portable/\(run)/metrics.json", encoding: .utf8)
      let native = try String(contentsOfFile: "\(root)/native/\(run)/metrics.json", encoding: .utf8)
      #expect(portable.contains(#""numerics" : "portable (OpenBLAS Haswell kernels)""#))
      #expect(native.contains(#""numerics" : "native (OpenBLAS Sandybridge kernels)""#))
    }
    let data = try compareRuns("\(root)/portable", "\(root)/native", ignoring: "numerics")
    #expect(!data.identical, "Sandybridge kernels should sum in another order")
    #expect(data.output.contains("differs: ./"), "\(data.output)")
  }
}

/// A checkpoint records its numerics, and resuming it under other numerics is refused
/// (its continuation would not match an uninterrupted run).
@Test(
  .enabled(
    if: hasFashionMNIST && executable != nil, "needs dataset-fashion-mnist and the built binary"))
func resumingUnderOtherNumericsIsRefused() throws {
  let directory = try TemporaryDirectory()
  let native = ["EXPERTSTREAM_NUMERICS": "native", "OPENBLAS_CORETYPE": "Sandybridge"]
  let first = try spawn(
    ["run", quickScenario, "--quiet", "--set", "checkpoint.directory=c"], in: directory.url.path,
    environment: native)
  #expect(first.status == 0, "\(first.output)")
  let inspected = try spawn(["inspect", "c/latest.h5"], in: directory.url.path, environment: [:])
  #expect(inspected.output.contains("numerics native (OpenBLAS Sandybridge kernels)"))
  let resumed = try spawn(
    ["run", quickScenario, "--quiet", "--resume", "--set", "checkpoint.directory=c"],
    in: directory.url.path, environment: [:])
  #expect(resumed.status == 2)
  #expect(
    resumed.output.contains(
      "c/latest.h5: /: attribute numerics is 'native (OpenBLAS Sandybridge kernels)', but this "
        + "process computes with 'portable (OpenBLAS Haswell kernels)'"), "\(resumed.output)")
  let again = try spawn(
    ["run", quickScenario, "--quiet", "--resume", "--set", "checkpoint.directory=c"],
    in: directory.url.path, environment: native)
  #expect(again.status == 0, "\(again.output)")
}

/// An unknown numerics mode, on the command line or in the environment, is a usage error
/// before anything runs.
@Test(.enabled(if: executable != nil, "needs the built binary"))
func anUnknownNumericsModeIsAUsageError() throws {
  let directory = try TemporaryDirectory()
  let flag = try spawn(
    ["run", quickScenario, "--numerics", "fast"], in: directory.url.path, environment: [:])
  #expect(flag.status == 2)
  #expect(flag.output.contains("option '--numerics' expects one of portable, native, got 'fast'"))
  let variable = try spawn(
    ["run", quickScenario], in: directory.url.path,
    environment: ["EXPERTSTREAM_NUMERICS": "fast"])
  #expect(variable.status == 2)
  #expect(
    variable.output.contains(
      "error: EXPERTSTREAM_NUMERICS=fast is not a numerics mode; use portable (the same "
        + "results on every CPU) or native (this CPU's fastest kernels)"), "\(variable.output)")
  #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
}
