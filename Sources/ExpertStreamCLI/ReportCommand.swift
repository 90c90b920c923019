import Reports

/// `expertstream report FILE_OR_DIR --out DIR`: SVG figures, a `summary.md` and an
/// `index.html` of one or more continual runs or a sweep, from their checkpoints
/// (``RunReport``).
struct ReportCommand: Command {
  static let configuration = CommandConfiguration(
    name: "report",
    summary:
      "Write SVG figures, a summary.md and an HTML page (index.html) of continual runs or a "
      + "sweep, from their checkpoints.",
    usage: ["report FILE_OR_DIR --out DIR"],
    options: [
      .option(
        "--out", "DIR",
        "Where to write the figures, summary.md and index.html (created; existing files of "
          + "the report are replaced)."),
      .flag("--quiet", "Print nothing but errors."),
    ],
    examples: [
      "expertstream report checkpoints/split-fashion-mnist --out reports/split-fashion-mnist",
      "expertstream report checkpoints/sweeps/sweep-quick --out reports/sweep-quick",
    ],
    positionals: 1...1)

  let input: String
  let output: String
  let quiet: Bool

  init(_ arguments: ParsedArguments) throws {
    input = arguments.positionals[0]
    guard let output = arguments.value("--out") else {
      throw UsageError(
        "report needs an output directory", hint: "add '--out DIR', e.g. '--out reports/run'")
    }
    self.output = output
    quiet = arguments.flag("--quiet")
  }

  func run(_ console: Console) throws {
    let report = try RunReport(input: input)
    try report.write(to: output)
    if !quiet {
      console.print(
        "report of \(report.runs.count) run(s) written to \(output)/index.html and "
          + "\(output)/summary.md (\(report.figureCount) SVG figures)")
    }
  }
}

extension ReportError: UserInputError {}
