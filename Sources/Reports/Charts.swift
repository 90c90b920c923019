import Foundation

/// One named line of a ``LineChart``.
public struct Series {
  /// The legend entry.
  public var name: String
  /// The points, in drawing order.
  public var points: [(x: Double, y: Double)]
  /// Whether the line is dashed (for a secondary measure of the same quantity).
  public var dashed: Bool
  /// The colour; `nil` picks the next colour of ``Palette/categorical``.
  public var color: String?

  /// A series of points.
  public init(
    name: String, points: [(x: Double, y: Double)], dashed: Bool = false, color: String? = nil
  ) {
    self.name = name
    self.points = points
    self.dashed = dashed
    self.color = color
  }
}

/// Lines over a shared x axis, with ticks, axis titles, a legend and optional vertical
/// markers (such as task boundaries).
public struct LineChart {
  /// The title above the plot.
  public var title: String
  /// The x axis title, with its unit.
  public var xTitle: String
  /// The y axis title, with its unit.
  public var yTitle: String
  /// The lines.
  public var series: [Series]
  /// The y range; `nil` fits the data.
  public var yRange: ClosedRange<Double>?
  /// Tick labels at given x positions; `nil` places numeric ticks.
  public var xTicks: [(x: Double, label: String)]?
  /// Dashed vertical lines with a label at the top, such as "task 2".
  public var markers: [(x: Double, label: String)] = []
  /// The plot area's size in pixels.
  public var plotSize: (width: Double, height: Double) = (440, 240)

  /// A chart of `series`.
  public init(
    title: String, xTitle: String, yTitle: String, series: [Series],
    yRange: ClosedRange<Double>? = nil, xTicks: [(x: Double, label: String)]? = nil
  ) {
    self.title = title
    self.xTitle = xTitle
    self.yTitle = yTitle
    self.series = series
    self.yRange = yRange
    self.xTicks = xTicks
  }

  /// The drawing: plot area on the left, legend on the right.
  public func draw() -> SVGCanvas {
    let left = 64.0
    let top = 40.0
    let legendWidth =
      (series.map { SVGCanvas.textWidth($0.name, size: 11) }.max() ?? 0) + 44
    let width = left + plotSize.width + 16 + legendWidth
    let height = top + plotSize.height + 52
    var canvas = SVGCanvas(width: width, height: height)
    canvas.text(title, x: width / 2, y: 20, size: 14, anchor: .middle, bold: true)
    let xs = series.flatMap { $0.points.map(\.x) } + (xTicks ?? []).map(\.x)
    let ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
    var xRange = (xs.min() ?? 0)...(xs.max() ?? 1)
    if xRange.lowerBound == xRange.upperBound {
      xRange = (xRange.lowerBound - 1)...(xRange.upperBound + 1)
    } else if xTicks != nil {
      // Labelled categories (tasks) get half a step of room at both ends.
      let half = (xRange.upperBound - xRange.lowerBound) / Double(max(xTicks!.count - 1, 1)) / 2
      xRange = (xRange.lowerBound - half)...(xRange.upperBound + half)
    }
    var yRange = self.yRange ?? Self.niceRange(ys)
    if yRange.lowerBound == yRange.upperBound {
      yRange = (yRange.lowerBound - 1)...(yRange.upperBound + 1)
    }
    func px(_ x: Double) -> Double {
      left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * plotSize.width
    }
    func py(_ y: Double) -> Double {
      top + plotSize.height
        - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * plotSize.height
    }
    // Grid and y ticks.
    for tick in Self.ticks(yRange) {
      canvas.line(
        x1: left, y1: py(tick), x2: left + plotSize.width, y2: py(tick), stroke: "#e3e3e3")
      canvas.text(Self.label(tick), x: left - 6, y: py(tick) + 4, size: 10, anchor: .end)
    }
    let xTickList =
      xTicks ?? Self.ticks(xRange).map { (x: $0, label: Self.label($0)) }
    let every = max(1, xTickList.count / 12)
    for (index, tick) in xTickList.enumerated() where index % every == 0 {
      canvas.line(
        x1: px(tick.x), y1: top + plotSize.height, x2: px(tick.x), y2: top + plotSize.height + 4)
      canvas.text(
        tick.label, x: px(tick.x), y: top + plotSize.height + 17, size: 10, anchor: .middle)
    }
    for marker in markers {
      canvas.line(
        x1: px(marker.x), y1: top, x2: px(marker.x), y2: top + plotSize.height, stroke: "#999",
        dash: "3 3")
      canvas.text(marker.label, x: px(marker.x) + 3, y: top + 10, size: 9, color: "#666")
    }
    canvas.rectangle(
      x: left, y: top, width: plotSize.width, height: plotSize.height, fill: "none",
      stroke: "#666")
    for (index, line) in series.enumerated() {
      let color = line.color ?? Palette.series(index)
      let points = line.points.filter { $0.y.isFinite }.map { (x: px($0.x), y: py($0.y)) }
      canvas.polyline(
        points, stroke: color, dash: line.dashed ? "6 4" : nil, markers: points.count <= 30)
      let legendY = top + 8 + Double(index) * 18
      let legendX = left + plotSize.width + 16
      canvas.line(
        x1: legendX, y1: legendY, x2: legendX + 22, y2: legendY, stroke: color, width: 2,
        dash: line.dashed ? "6 4" : nil)
      canvas.text(line.name, x: legendX + 28, y: legendY + 4, size: 11)
    }
    canvas.text(
      xTitle, x: left + plotSize.width / 2, y: height - 10, size: 12, anchor: .middle)
    canvas.text(
      yTitle, x: 16, y: top + plotSize.height / 2, size: 12, anchor: .middle, rotated: true)
    return canvas
  }

  /// A range that covers `values` with a little room, rounded to tick steps.
  static func niceRange(_ values: [Double]) -> ClosedRange<Double> {
    guard let low = values.min(), let high = values.max() else { return 0...1 }
    let step = tickStep(high - low)
    return (floor(low / step) * step)...(ceil(high / step) * step)
  }

  /// A step of 1, 2 or 5 × 10ⁿ that gives about five ticks over `span`.
  static func tickStep(_ span: Double) -> Double {
    guard span > 0, span.isFinite else { return 1 }
    let raw = span / 5
    let magnitude = pow(10, floor(log10(raw)))
    let normalized = raw / magnitude
    return (normalized < 1.5 ? 1 : normalized < 3.5 ? 2 : normalized < 7.5 ? 5 : 10) * magnitude
  }

  /// Tick positions at multiples of ``tickStep(_:)`` within `range`.
  static func ticks(_ range: ClosedRange<Double>) -> [Double] {
    let step = tickStep(range.upperBound - range.lowerBound)
    let first = Int(ceil(range.lowerBound / step - 1e-9))
    let last = Int(floor(range.upperBound / step + 1e-9))
    guard first <= last else { return [] }
    // Printed and re-read at ten significant digits, so 3 × 0.2 is 0.6.
    return (first...last).map { Double(String(format: "%.10g", Double($0) * step)) ?? 0 }
  }

  /// A tick label with no more digits than it needs.
  static func label(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
    var text = String(format: "%.3f", value)
    while text.hasSuffix("0") { text.removeLast() }
    return text
  }
}

/// Stacked vertical bars: one bar per category, one coloured segment per series, with a
/// legend; for shares that sum to one per category (such as expert usage per task).
public struct StackedBarChart {
  /// The title above the plot.
  public var title: String
  /// The x axis title.
  public var xTitle: String
  /// The y axis title, with its unit.
  public var yTitle: String
  /// One label per bar.
  public var categories: [String]
  /// The segments: name and one value per category.
  public var series: [(name: String, values: [Double])]
  /// The top of the y axis.
  public var yMaximum: Double

  /// A chart of `series` stacked over `categories`.
  public init(
    title: String, xTitle: String, yTitle: String, categories: [String],
    series: [(name: String, values: [Double])], yMaximum: Double = 1
  ) {
    self.title = title
    self.xTitle = xTitle
    self.yTitle = yTitle
    self.categories = categories
    self.series = series
    self.yMaximum = yMaximum
  }

  /// The drawing.
  public func draw() -> SVGCanvas {
    let left = 64.0
    let top = 40.0
    let plotHeight = 240.0
    let barSlot = max(36.0, min(80.0, 440.0 / Double(max(categories.count, 1))))
    let plotWidth = barSlot * Double(categories.count)
    let legendWidth = (series.map { SVGCanvas.textWidth($0.name, size: 11) }.max() ?? 0) + 40
    let width = max(left + plotWidth + 16 + legendWidth, SVGCanvas.textWidth(title, size: 14) + 20)
    let height = top + plotHeight + 52
    var canvas = SVGCanvas(width: width, height: height)
    canvas.text(title, x: width / 2, y: 20, size: 14, anchor: .middle, bold: true)
    func py(_ y: Double) -> Double { top + plotHeight - y / yMaximum * plotHeight }
    for tick in LineChart.ticks(0...yMaximum) {
      canvas.line(x1: left, y1: py(tick), x2: left + plotWidth, y2: py(tick), stroke: "#e3e3e3")
      canvas.text(LineChart.label(tick), x: left - 6, y: py(tick) + 4, size: 10, anchor: .end)
    }
    for (index, category) in categories.enumerated() {
      let x = left + Double(index) * barSlot + barSlot * 0.15
      var base = 0.0
      for (seriesIndex, segment) in series.enumerated() where index < segment.values.count {
        let value = segment.values[index]
        guard value > 0, value.isFinite else { continue }
        canvas.rectangle(
          x: x, y: py(base + value), width: barSlot * 0.7, height: py(base) - py(base + value),
          fill: Palette.series(seriesIndex), stroke: "#ffffff", strokeWidth: 0.5)
        base += value
      }
      canvas.text(
        category, x: x + barSlot * 0.35, y: top + plotHeight + 17, size: 10, anchor: .middle)
    }
    canvas.rectangle(
      x: left, y: top, width: plotWidth, height: plotHeight, fill: "none", stroke: "#666")
    for (index, segment) in series.enumerated() {
      let legendX = left + plotWidth + 16
      let legendY = top + 4 + Double(index) * 18
      canvas.rectangle(
        x: legendX, y: legendY, width: 12, height: 12, fill: Palette.series(index))
      canvas.text(segment.name, x: legendX + 18, y: legendY + 10, size: 11)
    }
    canvas.text(xTitle, x: left + plotWidth / 2, y: height - 10, size: 12, anchor: .middle)
    canvas.text(
      yTitle, x: 16, y: top + plotHeight / 2, size: 12, anchor: .middle, rotated: true)
    return canvas
  }
}
