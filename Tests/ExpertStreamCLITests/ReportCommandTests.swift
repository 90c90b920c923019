import Checkpoints
import ExpertStreamCLI
import Foundation
import Testing
import _TestSupport

@Test(
  .enabled(
    if: hasFashionMNIST,
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"))
func reportWritesWellFormedFiguresAndASummary() throws {
  let directory = try TemporaryDirectory()
  let checkpoints = directory.path("checkpoints")
  #expect(
    runTool([
      "run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(checkpoints)",
      "--set", "training.epochs=2",
    ]).status == 0)
  let summary = try Checkpoint.summary(of: "\(checkpoints)/latest.h5")
  #expect(summary.tasks.map(\.epochLosses.count) == [2, 2, 2])

  // An --out that cannot be made says where and why, and writes nothing.
  let file = directory.path("a-file")
  try "x".write(toFile: file, atomically: true, encoding: .utf8)
  let through = runTool(["report", checkpoints, "--out", "\(file)/report"])
  #expect(through.status != 0)
  #expect(through.error == "error: \(file): cannot create the directory: Not a directory\n")

  let out = directory.path("report")
  let result = runTool(["report", checkpoints, "--out", out])
  #expect(result.status == 0, "\(result.error)")
  let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
  #expect(
    files == [
      "accuracy-class-il.svg", "accuracy-curves.svg", "accuracy-task-il.svg",
      "decomposition.svg", "expert-usage.svg", "index.html", "loss.svg", "summary.md",
    ])
  for file in files where file.hasSuffix(".svg") {
    let document = try String(contentsOfFile: "\(out)/\(file)", encoding: .utf8)
    let (error, elements) = parseXML(document)
    #expect(error == nil, "\(file): \(String(describing: error))")
    #expect(elements.first == "svg" && elements.contains("text"), "\(file)")
  }
  // Class names, not only numbers; spawned and frozen experts marked.
  let decomposition = try String(contentsOfFile: "\(out)/decomposition.svg", encoding: .utf8)
  #expect(decomposition.contains(">1 Trouser<") && decomposition.contains(">frozen<"))
  #expect(decomposition.contains(">new<"))
  let markdown = try String(contentsOfFile: "\(out)/summary.md", encoding: .utf8)
  #expect(markdown.contains("![Gate decomposition per task](decomposition.svg)"))
  #expect(markdown.contains("average class-IL accuracy"))
  // The summary names the checkpoint by the path the user gave, not a rewritten one.
  let spelled = "\(checkpoints)/../checkpoints"
  #expect(runTool(["report", spelled, "--out", out]).status == 0)
  let again = try String(contentsOfFile: "\(out)/summary.md", encoding: .utf8)
  #expect(again.contains("From `\(spelled)/latest.h5`"), "\(again.prefix(300))")

  // Several runs under one directory: one sub-directory of figures each.
  let several = directory.path("several")
  #expect(
    runTool([
      "run", quickScenario, "--quiet", "--set", "checkpoint.directory=\(several)",
      "--policy", "spawn-and-freeze,fine-tune",
    ]).status == 0)
  let both = directory.path("both")
  #expect(runTool(["report", several, "--out", both]).status == 0)
  for run in ["fine-tune/seed_0", "spawn-and-freeze/seed_0"] {
    #expect(FileManager.default.fileExists(atPath: "\(both)/\(run)/decomposition.svg"), "\(run)")
    #expect(FileManager.default.fileExists(atPath: "\(both)/\(run)/index.html"), "\(run)")
  }
  // An overview page links to each run's page.
  let overview = try String(contentsOfFile: "\(both)/index.html", encoding: .utf8)
  #expect(overview.contains("<a href=\"fine-tune/seed_0/index.html\">fine-tune/seed_0</a>"))
}

@Test func reportRejectsMissingInputAndLeavesNothingBehind() throws {
  let directory = try TemporaryDirectory()
  let empty = directory.path("empty")
  try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
  let out = directory.path("out")
  let none = runTool(["report", empty, "--out", out])
  #expect(none.status == 2)
  #expect(none.error.contains("\(empty): holds no checkpoint"))
  let missing = runTool(["report", directory.path("nope"), "--out", out])
  #expect(missing.status == 2 && missing.error.contains("no such file"))
  let broken = directory.path("broken.h5")
  try "not hdf5".write(toFile: broken, atomically: true, encoding: .utf8)
  let unreadable = runTool(["report", broken, "--out", out])
  #expect(unreadable.status == 2 && unreadable.error.contains(broken))
  #expect(runTool(["report", empty]).status == 2)
  #expect(
    try FileManager.default.contentsOfDirectory(atPath: directory.url.path).sorted() == [
      "broken.h5", "empty",
    ])
}
