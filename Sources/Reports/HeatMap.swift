import Foundation

/// A matrix drawn as coloured cells with the value printed in each, row and column labels,
/// axis titles, a title and a colour bar.
///
/// Missing values (`nil`, such as the upper triangle of an accuracy matrix) are drawn as
/// empty cells.
public struct HeatMap {
  /// The title above the map.
  public var title: String
  /// One label per row, drawn left of the rows.
  public var rowLabels: [String]
  /// One label per column, drawn below the columns (rotated when long).
  public var columnLabels: [String]
  /// Row-major values; rows and columns must match the labels.
  public var values: [[Double?]]
  /// The axis title along the rows (left).
  public var rowTitle: String
  /// The axis title along the columns (bottom).
  public var columnTitle: String
  /// The values mapped to the ends of the colour scale.
  public var range: ClosedRange<Double>
  /// How a cell's value is printed.
  public var formatValue: (Double) -> String
  /// The caption of the colour bar (the values' unit).
  public var unit: String
  /// Marks drawn right of a row (such as "new", "frozen"), by row index.
  public var rowNotes: [Int: String] = [:]
  /// Rows drawn with a hatched outline (such as frozen experts), by row index.
  public var outlinedRows: Set<Int> = []
  /// The side of a square cell in pixels.
  public var cellSize: Double = 40

  /// A heat-map of `values` with labels and a value range.
  public init(
    title: String, rowLabels: [String], columnLabels: [String], values: [[Double?]],
    rowTitle: String, columnTitle: String, range: ClosedRange<Double>, unit: String,
    formatValue: @escaping (Double) -> String
  ) {
    self.title = title
    self.rowLabels = rowLabels
    self.columnLabels = columnLabels
    self.values = values
    self.rowTitle = rowTitle
    self.columnTitle = columnTitle
    self.range = range
    self.unit = unit
    self.formatValue = formatValue
  }

  private var rotatesColumnLabels: Bool {
    columnLabels.contains { SVGCanvas.textWidth($0, size: 11) > cellSize - 4 }
  }

  private var leftMargin: Double {
    (rowLabels.map { SVGCanvas.textWidth($0, size: 11) }.max() ?? 0) + 36
  }

  private var bottomMargin: Double {
    let labels =
      rotatesColumnLabels
      ? (columnLabels.map { SVGCanvas.textWidth($0, size: 11) }.max() ?? 0) * 0.72 + 16 : 18
    return labels + 30
  }

  private var rightMargin: Double {
    let notes = (rowNotes.values.map { SVGCanvas.textWidth($0, size: 10) }.max() ?? 0)
    return (notes > 0 ? notes + 10 : 0) + 70
  }

  /// The drawing, sized to fit its labels.
  public func draw() -> SVGCanvas {
    let rows = Double(rowLabels.count)
    let columns = Double(columnLabels.count)
    let top = 36.0
    let content = leftMargin + columns * cellSize + rightMargin
    let width = max(content, SVGCanvas.textWidth(title, size: 14) + 20)
    let height = top + rows * cellSize + bottomMargin
    var canvas = SVGCanvas(width: width, height: height)
    canvas.text(title, x: width / 2, y: 20, size: 14, anchor: .middle, bold: true)
    // A title wider than the grid centres the grid under it.
    let left = leftMargin + (width - content) / 2
    for (row, label) in rowLabels.enumerated() {
      let y = top + Double(row) * cellSize
      canvas.text(label, x: left - 6, y: y + cellSize / 2 + 4, size: 11, anchor: .end)
      for column in 0..<columnLabels.count {
        let x = left + Double(column) * cellSize
        let value = row < values.count && column < values[row].count ? values[row][column] : nil
        guard let value, value.isFinite else {
          canvas.rectangle(
            x: x, y: y, width: cellSize, height: cellSize, fill: "#f4f4f4", stroke: "#ffffff")
          continue
        }
        let level = (value - range.lowerBound) / (range.upperBound - range.lowerBound)
        canvas.rectangle(
          x: x, y: y, width: cellSize, height: cellSize, fill: Palette.sequential(level),
          stroke: "#ffffff")
        canvas.text(
          formatValue(value), x: x + cellSize / 2, y: y + cellSize / 2 + 4,
          size: cellSize >= 36 ? 11 : 9, anchor: .middle,
          color: Palette.textColor(onLevel: level))
      }
      if outlinedRows.contains(row) {
        canvas.rectangle(
          x: left, y: y + 1, width: columns * cellSize, height: cellSize - 2, fill: "none",
          stroke: "#333", strokeWidth: 1.5, dash: "4 3")
      }
      if let note = rowNotes[row] {
        canvas.text(
          note, x: left + columns * cellSize + 6, y: y + cellSize / 2 + 4, size: 10,
          color: "#444")
      }
    }
    let gridBottom = top + rows * cellSize
    for (column, label) in columnLabels.enumerated() {
      let x = left + (Double(column) + 0.5) * cellSize
      if rotatesColumnLabels {
        canvas.text(label, x: x + 4, y: gridBottom + 8, size: 11, anchor: .end, rotated: true)
      } else {
        canvas.text(label, x: x, y: gridBottom + 16, size: 11, anchor: .middle)
      }
    }
    canvas.text(
      columnTitle, x: left + columns * cellSize / 2, y: height - 8, size: 12, anchor: .middle)
    canvas.text(
      rowTitle, x: left - leftMargin + 14, y: top + rows * cellSize / 2, size: 12,
      anchor: .middle, rotated: true)
    drawColorBar(
      on: &canvas, x: left + columns * cellSize + rightMargin - 44, top: top,
      height: rows * cellSize)
    return canvas
  }

  private func drawColorBar(on canvas: inout SVGCanvas, x: Double, top: Double, height: Double) {
    let steps = 20
    for step in 0..<steps {
      let level = 1 - (Double(step) + 0.5) / Double(steps)
      canvas.rectangle(
        x: x, y: top + Double(step) * height / Double(steps), width: 10,
        height: height / Double(steps) + 0.5, fill: Palette.sequential(level))
    }
    canvas.rectangle(x: x, y: top, width: 10, height: height, fill: "none", stroke: "#999")
    canvas.text(formatValue(range.upperBound), x: x + 13, y: top + 9, size: 9)
    canvas.text(formatValue(range.lowerBound), x: x + 13, y: top + height, size: 9)
    canvas.text(unit, x: x + 5, y: top + height + 14, size: 9, anchor: .middle)
  }
}

/// The colours of the figures.
public enum Palette {
  /// Viridis, sampled at nine stops, from 0 (dark purple) to 1 (yellow).
  private static let viridis: [(Double, Double, Double)] = [
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
  ]

  /// The sequential colour of `level` in 0…1 (clamped): light for low values, dark for
  /// high ones (viridis reversed, so empty routing reads as white-ish).
  public static func sequential(_ level: Double) -> String {
    let clamped = min(max(level.isFinite ? level : 0, 0), 1)
    // Reversed viridis, blended towards white at the low end so zeros recede.
    let position = (1 - clamped) * Double(viridis.count - 1)
    let index = min(Int(position), viridis.count - 2)
    let fraction = position - Double(index)
    let (a, b) = (viridis[index], viridis[index + 1])
    let whiten = max(0, 0.35 - clamped) / 0.35 * 0.55
    func channel(_ x: Double, _ y: Double) -> Int {
      let mixed = x + (y - x) * fraction
      return Int((mixed + (255 - mixed) * whiten).rounded())
    }
    return String(
      format: "#%02x%02x%02x", channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
  }

  /// Black on light cells, white on dark ones.
  public static func textColor(onLevel level: Double) -> String {
    level > 0.55 ? "#ffffff" : "#111111"
  }

  /// Distinct colours for series (Tableau 10).
  public static let categorical = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
  ]

  /// The colour of series `index`, cycling through ``categorical``.
  public static func series(_ index: Int) -> String {
    categorical[index % categorical.count]
  }
}
