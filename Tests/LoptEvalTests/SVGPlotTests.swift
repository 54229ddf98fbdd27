import Foundation
import LoptEval
import Testing

@Suite struct SVGPlotTests {
  @Test func drawsOneLinePerSeriesWithLegendAndLogAxisWhenTheRangeSpansDecades() {
    let plot = SVGPlot(
      title: "loss", xLabel: "step", yLabel: "loss",
      series: [
        .init(name: "adam", points: (0..<50).map { (Double($0), 3 / (1 + Double($0))) }),
        .init(name: "sgd <1>", points: (0..<50).map { (Double($0), 2 - Double($0) / 50) }),
      ])
    let svg = plot.render()
    #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
    #expect(svg.components(separatedBy: "<polyline").count == 3)
    #expect(svg.contains(">adam<") && svg.contains("sgd &lt;1&gt;"))
    #expect(svg.contains("loss (log scale)") && !svg.contains("step (log scale)"))
  }

  @Test func aNaNBreaksTheLineAndANarrowRangeStaysLinear() {
    let points: [(x: Double, y: Double)] = [(0, 1), (1, 1.5), (2, .nan), (3, 1.2), (4, 1.1)]
    let svg = SVGPlot(
      title: "t", xLabel: "x", yLabel: "y", series: [.init(name: "a", points: points)]
    )
    .render()
    #expect(svg.components(separatedBy: "<polyline").count == 3)
    #expect(!svg.contains("log scale"))
  }

  @Test func aBaseTwoAxisTicksAtPowersOfTwo() {
    let points: [(x: Double, y: Double)] = [(1, 0.3), (2, 1), (3, 5)]
    let svg = SVGPlot(
      title: "t", xLabel: "x", yLabel: "speedup", series: [.init(name: "a", points: points)],
      isLogY: true, yLogBase: 2
    ).render()
    for label in [">0.5<", ">1<", ">2<", ">4<"] { #expect(svg.contains(label), "\(label)") }
    #expect(!svg.contains(">0.3<") && !svg.contains(">5<") && svg.contains("speedup (log scale)"))
  }
}
