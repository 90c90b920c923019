import Foundation

/// A self-contained HTML page built from headings, paragraphs, tables and inline SVG
/// figures: one file with no script, no external style sheet and no image to load, readable
/// on a phone (figures shrink to the screen's width, wide tables scroll sideways).
///
/// Every text given to it is escaped; only ``raw(_:)`` adds markup as it is.
struct HTMLPage {
  /// The page's `<title>`.
  var title: String
  private var body: [String] = []

  /// An empty page titled `title`.
  init(title: String) {
    self.title = title
  }

  /// The markup of the page.
  func render() -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>\(Self.escape(title))</title>
    <style>
    \(Self.styleSheet)
    </style>
    </head>
    <body>
    \(body.joined(separator: "\n"))
    </body>
    </html>

    """
  }

  // MARK: - Content

  /// A heading of `level` (1 to 6).
  mutating func heading(_ text: String, level: Int = 2) {
    body.append("<h\(level)>\(Self.escape(text))</h\(level)>")
  }

  /// A paragraph of plain text.
  mutating func paragraph(_ text: String) {
    body.append("<p>\(Self.escape(text))</p>")
  }

  /// Markup added as it is, for links and lists the other methods do not make.
  mutating func raw(_ markup: String) {
    body.append(markup)
  }

  /// A table with a header row; cells are plain text unless `markupColumns` lists their
  /// column, whose cells are added as markup (links).
  ///
  /// Cells that are numbers (``isNumber(_:)``) are aligned right. The table
  /// scrolls sideways inside its box when it is wider than the screen.
  mutating func table(
    header: [String], rows: [[String]], caption: String? = nil, markupColumns: Set<Int> = []
  ) {
    // The caption sits above the scrolling box, so it wraps to the screen's width.
    var lines = caption.map { ["<p class=\"caption\">\(Self.escape($0))</p>"] } ?? []
    lines.append("<div class=\"scroll\"><table>")
    lines.append("<tr>" + header.map { "<th>\(Self.escape($0))</th>" }.joined() + "</tr>")
    for row in rows {
      let cells = row.enumerated().map { column, cell in
        (Self.isNumber(cell) ? "<td class=\"n\">" : "<td>")
          + (markupColumns.contains(column) ? cell : Self.escape(cell)) + "</td>"
      }
      lines.append("<tr>" + cells.joined() + "</tr>")
    }
    lines.append("</table></div>")
    body.append(lines.joined(separator: "\n"))
  }

  /// A figure drawn inline, with its caption.
  mutating func figure(_ canvas: SVGCanvas, caption: String) {
    body.append(
      "<figure>\n" + canvas.renderElement()
        + "<figcaption>\(Self.escape(caption))</figcaption>\n</figure>")
  }

  /// Preformatted text, such as a scenario file, folded away under `summary`.
  mutating func details(_ summary: String, preformatted text: String) {
    body.append(
      "<details><summary>\(Self.escape(summary))</summary><pre>\(Self.escape(text))</pre>"
        + "</details>")
  }

  // MARK: - Markup

  /// Whether `cell` is a number, such as `-12.5`, `96.0 ± 1.2`, `65.7 %`, `0.1 s`,
  /// `1.548 bits` or `–` (none): digits, signs and `±` with at most a unit at the end.
  static func isNumber(_ cell: String) -> Bool {
    var number = Substring(cell)
    for unit in [" %", " s", " bits"] where number.hasSuffix(unit) {
      number = number.dropLast(unit.count)
    }
    return !number.isEmpty && number.contains { $0.isNumber || $0 == "–" }
      && number.allSatisfy { $0.isNumber || " .-–±+".contains($0) }
  }

  /// A link to `href` (a relative path) showing `text`.
  static func link(_ text: String, to href: String) -> String {
    "<a href=\"\(escape(href))\">\(escape(text))</a>"
  }

  /// Text with `&`, `<`, `>` and both quotes escaped, for element content and attribute
  /// values alike.
  static func escape(_ text: String) -> String {
    SVGCanvas.escape(text)
  }

  /// Plain system fonts, a column no wider than a figure, figures scaled down to the
  /// screen, tables scrolling inside their box.
  static let styleSheet = """
    body { font-family: system-ui, -apple-system, "DejaVu Sans", Helvetica, Arial, sans-serif;
      margin: 0 auto; padding: 0 12px 32px; max-width: 1100px; line-height: 1.45; color: #222; }
    h1 { font-size: 1.5em; margin-top: 0.8em; overflow-wrap: anywhere; }
    h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
    figure { margin: 1em 0; }
    svg { display: block; max-width: 100%; height: auto; }
    figcaption { font-size: 0.9em; color: #555; }
    .scroll { overflow-x: auto; margin: 0.8em 0; }
    table { border-collapse: collapse; font-size: 0.9em; }
    .caption { font-weight: bold; margin: 1em 0 0.3em; }
    .caption + .scroll { margin-top: 0; }
    th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; white-space: nowrap; }
    td.n { text-align: right; font-variant-numeric: tabular-nums; }
    code, pre { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 0.85em; }
    pre { overflow-x: auto; background: #f6f6f6; padding: 8px; }
    p, li { overflow-wrap: anywhere; }
    """
}
