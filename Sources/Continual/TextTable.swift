/// `rows` as a plain-text table: the first column left-aligned, the others right-aligned,
/// columns separated by two spaces, rows by newlines.
///
/// Every row must have as many cells as the first; no rows give an empty string.
public func formatTable(_ rows: [[String]]) -> String {
  guard let columns = rows.first?.count else { return "" }
  let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
  return rows.map { row in
    row.enumerated().map { column, cell in
      let pad = String(repeating: " ", count: widths[column] - cell.count)
      return column == 0 ? cell + pad : pad + cell
    }.joined(separator: "  ")
  }.joined(separator: "\n")
}
