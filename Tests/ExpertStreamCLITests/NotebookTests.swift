import ExpertStreamCLI
import Foundation
import Reports
import Testing
import _TestSupport

@Test func varyingMarkersMatchTextWithinALineAndWholeLines() {
  #expect(Notebook.matches(["total [...] s"], ["total 12.5 s"]))
  #expect(!Notebook.matches(["total [...] s"], ["total 12.5 ms"]))
  #expect(Notebook.matches(["a", "[...]", "z"], ["a", "b", "c", "z"]))
  #expect(Notebook.matches(["a", "[...]", "z"], ["a", "z"]))
  #expect(!Notebook.matches(["a", "z"], ["a", "b", "z"]))
  #expect(Notebook.matches(["x  ", ""], ["x", "", ""]))
  #expect(Notebook.matches(["[...] samples/s, [...] MB"], ["train: 512 samples/s, 80 MB"]))
}

@Test func notebookCheckPassesOnRecordedOutputAndFailsOnWrongOutput() throws {
  let directory = try TemporaryDirectory()
  let good = directory.path("good.md")
  try """
  # A notebook

  ```console runnable
  $ printf 'one\\ntwo %s\\n' "$((6 * 7))"
  one
  two 42
  ```

  ```console runnable exit=3
  $ echo "took 0.12 s"; \\
    exit 3
  took [...] s
  ```

  ```sh
  $ echo not runnable, not checked
  something else
  ```
  """.write(toFile: good, atomically: true, encoding: .utf8)
  let passing = runTool(["notebook", "check", good])
  #expect(passing.status == 0, "\(passing.output)")
  #expect(passing.output.contains("1 notebook(s), 2 checked block(s): 2 passed, 0 failed"))

  let wrong = directory.path("wrong.md")
  try """
  ```console runnable
  $ echo three
  four
  ```
  """.write(toFile: wrong, atomically: true, encoding: .utf8)
  let failing = runTool(["notebook", "check", good, wrong])
  #expect(failing.status == 1)
  #expect(failing.output.contains("\(wrong):1: FAILED $ echo three"))
  #expect(failing.output.contains("  - four\n  + three"))

  let update = runTool(["notebook", "check", wrong, "--update"])
  #expect(update.status == 0)
  #expect(
    try String(contentsOfFile: wrong, encoding: .utf8)
      == "```console runnable\n$ echo three\nthree\n```")
  #expect(runTool(["notebook", "check", wrong]).status == 0)
}

@Test func notebookListingsMustEqualTheirFiles() throws {
  let directory = try TemporaryDirectory()
  let source = directory.path("Example.swift")
  try "let x = 1\nprint(x)\n".write(toFile: source, atomically: true, encoding: .utf8)
  let notebook = directory.path("listing.md")
  try "```swift file=\(source)\nlet x = 1\nprint(x)\n```\n".write(
    toFile: notebook, atomically: true, encoding: .utf8)
  #expect(runTool(["notebook", "check", notebook]).status == 0)
  try "let x = 2\nprint(x)\n".write(toFile: source, atomically: true, encoding: .utf8)
  let changed = runTool(["notebook", "check", notebook])
  #expect(changed.status == 1 && changed.output.contains("the listing differs from \(source)"))
}

@Test func brokenNotebooksAreInputErrors() throws {
  let directory = try TemporaryDirectory()
  let unclosed = directory.path("unclosed.md")
  try "text\n```console runnable\n$ echo hi\nhi\n".write(
    toFile: unclosed, atomically: true, encoding: .utf8)
  let result = runTool(["notebook", "check", unclosed])
  #expect(result.status == 2 && result.error.contains("\(unclosed):2: code fence is never closed"))
  let noCommand = directory.path("nocommand.md")
  try "```console runnable\nhi\n```\n".write(toFile: noCommand, atomically: true, encoding: .utf8)
  let missing = runTool(["notebook", "check", noCommand])
  #expect(missing.status == 2 && missing.error.contains("must start with '$ '"))
  #expect(runTool(["notebook", "check", directory.path("absent.md")]).status == 2)
  #expect(runTool(["notebook", "check"]).status == 2)
}
