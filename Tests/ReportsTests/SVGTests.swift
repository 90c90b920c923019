import Foundation
import Testing
import _TestSupport

@testable import Reports

@Test func textIsEscapedSoDocumentsStayWellFormed() {
  var canvas = SVGCanvas(width: 100, height: 50)
  canvas.text("T-shirt/top & <Bag> \"quoted\" 'single'", x: 10, y: 20)
  let (error, elements) = parseXML(canvas.render())
  #expect(error == nil)
  #expect(elements.first == "svg" && elements.contains("text"))
  #expect(canvas.render().contains("T-shirt/top &amp; &lt;Bag&gt;"))
}

@Test func heatMapDrawsOneCellPerValueWithItsNumber() {
  let map = HeatMap(
    title: "accuracy", rowLabels: ["after T1", "after T2"], columnLabels: ["T1", "T2"],
    values: [[99.5, nil], [80.25, 97.0]], rowTitle: "trained", columnTitle: "task",
    range: 0...100, unit: "%", formatValue: { String(format: "%.1f", $0) })
  let document = map.draw().render()
  #expect(parseXML(document).error == nil)
  for number in ["99.5", "80.2", "97.0"] { #expect(document.contains(">\(number)<")) }
  #expect(document.contains(">after T2<") && document.contains(">task<"))
}

@Test func lineChartTicksAreRoundNumbers() {
  #expect(LineChart.ticks(0...100) == [0, 20, 40, 60, 80, 100])
  #expect(LineChart.ticks(0.13...0.92) == [0.2, 0.4, 0.6, 0.8])
  #expect(LineChart.niceRange([0.13, 0.92]) == 0...1)
  let chart = LineChart(
    title: "loss", xTitle: "epoch", yTitle: "loss (nats)",
    series: [Series(name: "train", points: [(1, 2.3), (2, 1.1), (3, 0.4)])])
  let document = chart.draw().render()
  #expect(parseXML(document).error == nil)
  #expect(document.contains("<polyline") && document.contains(">train<"))
}

@Test func stackedBarsStackToTheirTotal() {
  let chart = StackedBarChart(
    title: "usage", xTitle: "task", yTitle: "share", categories: ["T1", "T2"],
    series: [("expert 0", [1, 0.5]), ("expert 1", [0, 0.5])])
  let document = chart.draw().render()
  #expect(parseXML(document).error == nil)
  // Three non-empty segments plus legend swatches and frame.
  #expect(document.components(separatedBy: "<rect").count - 1 >= 3 + 2 + 1)
}
