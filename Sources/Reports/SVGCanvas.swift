import Foundation

/// A drawing surface that collects SVG elements and renders them as one document.
///
/// SVG is text, so figures need no plotting library: charts draw rectangles, lines and
/// labels onto a canvas in pixel coordinates (origin top-left, y down), and
/// ``render()`` returns a standalone, well-formed SVG 1.1 document.
public struct SVGCanvas {
  /// The width in pixels.
  public var width: Double
  /// The height in pixels.
  public var height: Double
  private var elements: [String] = []

  /// An empty canvas of the given size.
  public init(width: Double, height: Double) {
    self.width = width
    self.height = height
  }

  /// How text is anchored at its position.
  public enum Anchor: String {
    case start, middle, end
  }

  /// A filled rectangle, optionally outlined.
  public mutating func rectangle(
    x: Double, y: Double, width: Double, height: Double, fill: String,
    stroke: String? = nil, strokeWidth: Double = 1, dash: String? = nil
  ) {
    var attributes =
      "x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(width))\" height=\"\(format(height))\" fill=\"\(fill)\""
    if let stroke {
      attributes += " stroke=\"\(stroke)\" stroke-width=\"\(format(strokeWidth))\""
    }
    if let dash { attributes += " stroke-dasharray=\"\(dash)\"" }
    elements.append("<rect \(attributes)/>")
  }

  /// A straight line.
  public mutating func line(
    x1: Double, y1: Double, x2: Double, y2: Double, stroke: String = "#333",
    width: Double = 1, dash: String? = nil
  ) {
    elements.append(
      "<line x1=\"\(format(x1))\" y1=\"\(format(y1))\" x2=\"\(format(x2))\" y2=\"\(format(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(format(width))\""
        + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
  }

  /// A line through `points`, optionally with a marker at each point.
  public mutating func polyline(
    _ points: [(x: Double, y: Double)], stroke: String, width: Double = 2,
    dash: String? = nil, markers: Bool = false
  ) {
    guard !points.isEmpty else { return }
    let coordinates = points.map { "\(format($0.x)),\(format($0.y))" }.joined(separator: " ")
    elements.append(
      "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(format(width))\" stroke-linejoin=\"round\""
        + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    if markers {
      for point in points { circle(x: point.x, y: point.y, radius: 3, fill: stroke) }
    }
  }

  /// A filled circle.
  public mutating func circle(x: Double, y: Double, radius: Double, fill: String) {
    elements.append(
      "<circle cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"\(format(radius))\" fill=\"\(fill)\"/>")
  }

  /// A line of text; `rotated` turns it 90° counter-clockwise about its position (for
  /// vertical axis labels).
  public mutating func text(
    _ content: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
    color: String = "#222", bold: Bool = false, rotated: Bool = false
  ) {
    var attributes =
      "x=\"\(format(x))\" y=\"\(format(y))\" font-size=\"\(format(size))\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(color)\""
    if bold { attributes += " font-weight=\"bold\"" }
    if rotated { attributes += " transform=\"rotate(-90 \(format(x)) \(format(y)))\"" }
    elements.append("<text \(attributes)>\(Self.escape(content))</text>")
  }

  /// Draws `other` with its origin at (`x`, `y`) on this canvas.
  public mutating func place(_ other: SVGCanvas, x: Double, y: Double) {
    elements.append("<g transform=\"translate(\(format(x)) \(format(y)))\">")
    elements += other.elements
    elements.append("</g>")
  }

  /// The SVG document: white background, a sans-serif font, every element in order.
  public func render() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + renderElement()
  }

  /// The `<svg>` element of ``render()`` without the XML declaration, to place inline in an
  /// HTML page.
  ///
  /// The element uses no ids, so any number of them can share a page.
  public func renderElement() -> String {
    let header =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(format(width))\" height=\"\(format(height))\" viewBox=\"0 0 \(format(width)) \(format(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    let background = "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    return header + background + elements.joined(separator: "\n") + "\n</svg>\n"
  }

  /// Writes the document to `path`, atomically.
  public func write(to path: String) throws {
    try Data(render().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
  }

  /// Text with the five XML special characters escaped.
  public static func escape(_ text: String) -> String {
    var escaped = ""
    for character in text {
      switch character {
      case "&": escaped += "&amp;"
      case "<": escaped += "&lt;"
      case ">": escaped += "&gt;"
      case "\"": escaped += "&quot;"
      case "'": escaped += "&apos;"
      default: escaped.append(character)
      }
    }
    return escaped
  }

  /// The approximate width in pixels of `text` at `size` (DejaVu Sans averages ~0.6 em).
  public static func textWidth(_ text: String, size: Double) -> Double {
    Double(text.count) * size * 0.6
  }
}

/// Coordinates with at most two decimals, and no exponent notation (SVG has none).
func format(_ value: Double) -> String {
  guard value.isFinite else { return "0" }
  let rounded = (value * 100).rounded() / 100
  if rounded == rounded.rounded() { return String(Int(rounded)) }
  return String(format: "%.2f", rounded)
}
