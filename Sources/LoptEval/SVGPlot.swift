import Foundation

/// A line chart written directly as SVG: axes with ticks and labels, a legend, and a
/// logarithmic axis where the data spans more than a decade.
///
/// All of Lopt's drawing is this one type: `lopt plot` draws loss curves with it and
/// `lopt tune` the final loss against the learning rate.
public struct SVGPlot: Sendable {
  /// One named line.
  public struct Series: Sendable {
    /// The legend entry.
    public var name: String
    /// The points, in drawing order; non-finite points break the line.
    public var points: [(x: Double, y: Double)]
    /// Whether each point also gets a dot (useful for sparse data such as sweeps).
    public var showsMarkers: Bool
    /// Whether the line is dashed (for example a validation curve beside its training curve).
    public var isDashed: Bool
    /// The palette entry (`nil`: the series' position), so related lines can share a colour.
    public var colorIndex: Int?

    /// Creates a series.
    public init(
      name: String, points: [(x: Double, y: Double)], showsMarkers: Bool = false,
      isDashed: Bool = false, colorIndex: Int? = nil
    ) {
      self.name = name
      self.points = points
      self.showsMarkers = showsMarkers
      self.isDashed = isDashed
      self.colorIndex = colorIndex
    }

    /// The line's colour when it is series number `position`.
    func color(at position: Int) -> String {
      SVGPlot.palette[(colorIndex ?? position) % SVGPlot.palette.count]
    }

    /// The SVG stroke attributes of the line.
    func stroke(at position: Int, width: Double) -> String {
      "stroke=\"\(color(at: position))\" stroke-width=\"\(width)\""
        + (isDashed ? " stroke-dasharray=\"6 4\"" : "")
    }
  }

  /// The title above the chart.
  public var title: String
  /// The x-axis label.
  public var xLabel: String
  /// The y-axis label.
  public var yLabel: String
  /// The lines.
  public var series: [Series]
  /// Whether the x axis is logarithmic (`nil`: when the positive data span > 1 decade).
  public var isLogX: Bool?
  /// Whether the y axis is logarithmic (`nil`: when the positive data span > 1 decade).
  public var isLogY: Bool?
  /// The base of a logarithmic y axis: 10 (ticks 1, 2, 5 × 10ᵏ) or 2 (ticks at powers of two,
  /// for ratios such as speedups).
  public var yLogBase: Double

  /// Creates a chart; by default an axis is logarithmic when its data span over a decade.
  ///
  /// - Precondition: `yLogBase` is 2 or 10.
  public init(
    title: String, xLabel: String, yLabel: String, series: [Series], isLogX: Bool? = nil,
    isLogY: Bool? = nil, yLogBase: Double = 10
  ) {
    precondition(yLogBase == 2 || yLogBase == 10, "a log axis has base 2 or 10")
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.isLogX = isLogX
    self.isLogY = isLogY
    self.yLogBase = yLogBase
  }

  fileprivate static let palette = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
  ]
  private static let (width, height) = (760.0, 480.0)
  private static let (left, right, top, bottom) = (80.0, 30.0, 44.0, 60.0)

  /// One axis: its data range, scale and tick positions.
  private struct Axis {
    var low: Double
    var high: Double
    var isLog: Bool
    /// The base of a logarithmic axis; `low` and `high` are then exponents of it.
    var base: Double

    init(values: [Double], isLog requested: Bool?, base: Double = 10) {
      let finite = values.filter(\.isFinite)
      let positive = finite.filter { $0 > 0 }
      let span = (positive.max() ?? 1) / (positive.min() ?? 1)
      isLog = requested ?? (positive.count == finite.count && !positive.isEmpty && span > 10)
      self.base = base
      let used = isLog ? positive.map { log($0) / log(base) } : finite
      var (lo, hi) = (used.min() ?? 0, used.max() ?? 1)
      // A flat curve gets a range around it, wide enough to differ from it in Double (±0.5
      // near zero, ±5 % of |value| far from it); a span beyond Double's range is halved.
      let magnitude = max(abs(lo), abs(hi))
      if !(hi - lo > 1e-9 * max(magnitude, 1)) {
        let half = max(0.5, 0.05 * magnitude)
        (lo, hi) = (lo - half, hi + half)
      }
      if !(hi - lo).isFinite { (lo, hi) = (lo / 2, hi / 2) }
      let pad = (hi - lo) * 0.04
      (low, high) = (lo - pad, hi + pad)
    }

    /// The position of `value` in [0, 1], or `nil` for values the axis cannot show.
    func fraction(_ value: Double) -> Double? {
      guard value.isFinite, !isLog || value > 0 else { return nil }
      return ((isLog ? log(value) / log(base) : value) - low) / (high - low)
    }

    /// About five round tick values inside the range.
    var ticks: [Double] {
      guard low.isFinite, high.isFinite, low < high else { return [] }
      if isLog && base == 2 {
        guard ceil(low) <= floor(high) else { return [] }
        let exponents = Int(ceil(low))...Int(floor(high))
        let step = max(1, (exponents.count + 9) / 10)
        return exponents.filter { ($0 - exponents.lowerBound) % step == 0 }.map {
          pow(2, Double($0))
        }
      }
      if isLog {
        let decades = Int(floor(low))...Int(ceil(high))
        let multipliers: [Double] = decades.count <= 3 ? [1, 2, 5] : [1]
        let step = max(1, decades.count / 8)
        return decades.filter { ($0 - decades.lowerBound) % step == 0 }.flatMap { d in
          multipliers.map { $0 * pow(10, Double(d)) }
        }.filter { (low...high).contains(log10($0)) }
      }
      let raw = (high - low) / 5
      let magnitude = pow(10, floor(log10(raw)))
      let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
      guard step > 0, step.isFinite else { return [] }
      return stride(from: ceil(low / step) * step, through: high, by: step).map { $0 }
    }
  }

  /// The chart as a complete SVG document.
  public func render() -> String {
    let (w, h) = (Self.width, Self.height)
    let plotWidth = w - Self.left - Self.right
    let plotHeight = h - Self.top - Self.bottom
    let all = series.flatMap(\.points)
    let x = Axis(values: all.map(\.x), isLog: isLogX)
    let y = Axis(values: all.map(\.y), isLog: isLogY, base: yLogBase)
    func px(_ v: Double) -> Double? { x.fraction(v).map { Self.left + $0 * plotWidth } }
    func py(_ v: Double) -> Double? { y.fraction(v).map { Self.top + (1 - $0) * plotHeight } }
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" \
      viewBox="0 0 \(Int(w)) \(Int(h))" font-family="Helvetica, Arial, sans-serif" font-size="13">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(n(w / 2))" y="26" text-anchor="middle" font-size="16">\(escaped(title))</text>

      """
    for tick in x.ticks {
      guard let p = px(tick) else { continue }
      svg += line(p, Self.top, p, Self.top + plotHeight, stroke: "#e6e6e6")
      svg += text(label(tick, isLog: x.isLog), p, Self.top + plotHeight + 18, anchor: "middle")
    }
    for tick in y.ticks {
      guard let p = py(tick) else { continue }
      svg += line(Self.left, p, Self.left + plotWidth, p, stroke: "#e6e6e6")
      svg += text(
        label(tick, isLog: y.isLog, base: y.base), Self.left - 8, p + 4, anchor: "end")
    }
    svg += """
      <rect x="\(n(Self.left))" y="\(n(Self.top))" width="\(n(plotWidth))" \
      height="\(n(plotHeight))" fill="none" stroke="#333"/>
      <text x="\(n(Self.left + plotWidth / 2))" y="\(n(h - 16))" text-anchor="middle">\
      \(escaped(xLabel + (x.isLog ? " (log scale)" : "")))</text>
      <text transform="translate(20 \(n(Self.top + plotHeight / 2))) rotate(-90)" \
      text-anchor="middle">\(escaped(yLabel + (y.isLog ? " (log scale)" : "")))</text>

      """
    var placed: [(x: Double, y: Double)] = []
    for (index, s) in series.enumerated() {
      let color = s.color(at: index)
      var segments: [[String]] = [[]]
      var dots = ""
      for point in s.points {
        if let a = px(point.x), let b = py(point.y) {
          placed.append((a, b))
          segments[segments.count - 1].append("\(n(a)),\(n(b))")
          if s.showsMarkers {
            dots += "<circle cx=\"\(n(a))\" cy=\"\(n(b))\" r=\"3.5\" fill=\"\(color)\"/>\n"
          }
        } else if !segments[segments.count - 1].isEmpty {
          segments.append([])
        }
      }
      for segment in segments where segment.count > 1 {
        svg +=
          "<polyline fill=\"none\" \(s.stroke(at: index, width: 1.8)) "
          + "points=\"\(segment.joined(separator: " "))\"/>\n"
      }
      svg += dots
    }
    svg += legend(plotWidth: plotWidth, plotHeight: plotHeight, avoiding: placed)
    return svg + "</svg>\n"
  }

  /// The legend box, in the corner of the plot area that covers the fewest drawn points.
  private func legend(
    plotWidth: Double, plotHeight: Double, avoiding points: [(x: Double, y: Double)]
  ) -> String {
    guard !series.isEmpty else { return "" }
    let longest = series.map(\.name.count).max() ?? 0
    let boxWidth = 40 + 7.2 * Double(longest)
    let boxHeight = 8 + 18 * Double(series.count)
    let corners = [
      (Self.left + plotWidth - boxWidth - 10, Self.top + 10),
      (Self.left + 10, Self.top + 10),
      (Self.left + plotWidth - boxWidth - 10, Self.top + plotHeight - boxHeight - 10),
      (Self.left + 10, Self.top + plotHeight - boxHeight - 10),
    ]
    let covered = corners.map { corner in
      points.filter {
        ($0.x >= corner.0 - 6 && $0.x <= corner.0 + boxWidth + 6)
          && ($0.y >= corner.1 - 6 && $0.y <= corner.1 + boxHeight + 6)
      }.count
    }
    let (x0, y0) = corners[covered.indices.min { covered[$0] < covered[$1] }!]
    var svg = """
      <rect x="\(n(x0))" y="\(n(y0))" width="\(n(boxWidth))" \
      height="\(n(boxHeight))" fill="white" fill-opacity="0.85" stroke="#999"/>

      """
    for (index, s) in series.enumerated() {
      let rowY = y0 + 16 + 18 * Double(index)
      svg +=
        "<line x1=\"\(n(x0 + 8))\" y1=\"\(n(rowY - 4))\" x2=\"\(n(x0 + 30))\" "
        + "y2=\"\(n(rowY - 4))\" \(s.stroke(at: index, width: 2.5))/>\n"
      svg += text(s.name, x0 + 36, rowY, anchor: "start")
    }
    return svg
  }

  private func line(
    _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1
  ) -> String {
    "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" "
      + "stroke=\"\(stroke)\" stroke-width=\"\(n(width))\"/>\n"
  }

  private func text(_ content: String, _ x: Double, _ y: Double, anchor: String) -> String {
    "<text x=\"\(n(x))\" y=\"\(n(y))\" text-anchor=\"\(anchor)\">\(escaped(content))</text>\n"
  }

  /// A tick label: `1e-05`-style powers on log axes (`2^-12` on far base-2 ones), up to four
  /// significant digits otherwise.
  private func label(_ value: Double, isLog: Bool, base: Double = 10) -> String {
    if isLog && base == 2 {
      let exponent = Int(log2(value).rounded())
      return (-6...12).contains(exponent) ? String(format: "%g", value) : "2^\(exponent)"
    }
    if isLog {
      let exponent = Int(floor(log10(value) + 1e-9))
      let mantissa = (value / pow(10, Double(exponent))).rounded()
      if exponent >= -2 && exponent <= 3 { return String(format: "%g", value) }
      return (mantissa == 1 ? "" : "\(Int(mantissa))×") + "1e\(exponent)"
    }
    return String(format: "%g", abs(value) < 1e-12 ? 0 : value)
  }

  /// A coordinate with one decimal.
  private func n(_ value: Double) -> String { String(format: "%.1f", value) }

  private func escaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}
