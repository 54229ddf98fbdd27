import Foundation
import LoptCore
import LoptEval
import LoptMeta

/// The charts `lopt meta-train` leaves in its run directory: `meta-loss.svg`, the meta-loss of
/// every outer step with its moving average and each evaluation of θ on held-out seeds beside
/// Adam at learning rate 1e-3 on the same runs; and, when evaluations measure speedups
/// (`evaluation.suite`), `speedup.svg`, θ's median and mean speedup over tuned Adam.
enum MetaTrainingPlot {
  /// The file name in the run directory.
  static let fileName = "meta-loss.svg"
  /// The speedup chart's file name.
  static let speedupFileName = "speedup.svg"

  /// Reads `directory`'s metrics and writes the chart.
  ///
  /// - Throws: ``AtomicFileError`` when the file cannot be written.
  static func write(for directory: RunDirectory) throws {
    let data = FileManager.default.contents(atPath: directory.metricsURL.path) ?? Data()
    var steps: [(x: Double, y: Double)] = []
    var evaluations: [(x: Double, y: Double)] = []
    var adam: [(x: Double, y: Double)] = []
    var medians: [(x: Double, y: Double)] = []
    var means: [(x: Double, y: Double)] = []
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
      guard
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let step = object["step"] as? Int
      else { continue }
      if let loss = object["metaLoss"] as? Double { steps.append((Double(step), loss)) }
      if object["kind"] as? String == "evaluation" {
        if let loss = object["meanLoss"] as? Double { evaluations.append((Double(step), loss)) }
        if let loss = object["adamMeanLoss"] as? Double { adam.append((Double(step), loss)) }
        if let speedups = object["speedups"] as? [String: Any],
          let median = speedups["median"] as? Double, let mean = speedups["mean"] as? Double
        {
          medians.append((Double(step), median))
          means.append((Double(step), mean))
        }
      }
    }
    var average: [(x: Double, y: Double)] = []
    for point in steps {
      let previous = average.last?.y ?? point.y
      average.append((point.x, 0.95 * previous + 0.05 * point.y))
    }
    let plot = SVGPlot(
      title: "Meta-training: normalised loss", xLabel: "outer step", yLabel: "normalised loss",
      series: [
        .init(name: "meta-loss", points: steps, colorIndex: 7),
        .init(name: "meta-loss (moving average)", points: average, colorIndex: 0),
        .init(
          name: "learned optimizer, held-out seeds", points: evaluations, showsMarkers: true,
          colorIndex: 1),
        .init(name: "Adam 1e-3, same runs", points: adam, isDashed: true, colorIndex: 2),
      ].filter { !$0.points.isEmpty }, isLogX: false, isLogY: false)
    try AtomicFile.write(
      plot.render(), to: directory.url.appendingPathComponent(fileName))
    guard !medians.isEmpty else { return }
    let ones = [medians.first!, medians.last!].map { (x: $0.x, y: 1.0) }
    let speedup = SVGPlot(
      title: "Meta-training: speedup over tuned Adam on the selection suite",
      xLabel: "outer step", yLabel: "speedup",
      series: [
        .init(name: "median", points: medians, showsMarkers: true, colorIndex: 1),
        .init(name: "mean", points: means, showsMarkers: true, colorIndex: 0),
        .init(name: "tuned Adam (1×)", points: ones, isDashed: true, colorIndex: 7),
      ], isLogX: false, isLogY: false)
    try AtomicFile.write(
      speedup.render(), to: directory.url.appendingPathComponent(speedupFileName))
  }
}
