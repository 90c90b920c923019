import Foundation
import Testing
import _TestSupport

@testable import Reports

@Test func notebooksParseIntoFencedBlocks() throws {
  let notebook = try Notebook(
    path: "n.md",
    text: "text\n```console runnable exit=2\n$ echo a \\\n  b\na b\n```\n~~~\nplain\n~~~\n")
  #expect(notebook.blocks.map(\.line) == [2, 7])
  let block = notebook.blocks[0]
  #expect(block.isRunnable && block.attribute("exit") == "2")
  #expect(block.commandAndOutput?.command == "echo a \n  b")
  #expect(block.commandAndOutput?.output == ["a b"])
  #expect(!notebook.blocks[1].isRunnable)
  #expect(throws: NotebookError.self) { try Notebook(path: "n.md", text: "```\nopen\n") }
}

@Test func checkingReportsEveryBlockAndCountsThem() throws {
  let directory = try TemporaryDirectory()
  let listing = directory.path("listing.txt")
  try "same\n".write(toFile: listing, atomically: true, encoding: .utf8)
  let path = directory.path("n.md")
  let text = """
    ```console runnable
    $ echo one
    one
    ```

    ```text file=\(listing)
    same
    ```

    ```console runnable exit=1
    $ echo two
    three
    ```
    """
  try text.write(toFile: path, atomically: true, encoding: .utf8)
  var checks: [Notebook.BlockCheck] = []
  let counts = try Notebook(path: path).check { checks.append($0) }
  #expect(counts.passed == 2 && counts.failed == 1 && counts.updated == 0 && counts.total == 3)
  #expect(checks.map(\.passed) == [true, true, false])
  #expect(checks[1].description == "\(path):6: listing of \(listing) ok")
  #expect(
    checks[2].description == """
      \(path):10: FAILED $ echo two
        exit status 0, expected 1
        first difference at output line 1:
        - three
        + two
        (- recorded, + now; mark varying text with [...])
      """)
  #expect(try String(contentsOfFile: path, encoding: .utf8) == text)

  // Updating records the new output (status aside) in the file instead of failing.
  let updated = try Notebook(path: path).check(updating: true)
  #expect(updated.updated == 1 && updated.failed == 0)
  #expect(
    try String(contentsOfFile: path, encoding: .utf8)
      == text.replacingOccurrences(of: "$ echo two\nthree", with: "$ echo two\ntwo"))
}
