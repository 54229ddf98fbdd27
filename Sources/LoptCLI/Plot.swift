import ArgumentParser
import Foundation
import LoptCore
import LoptEval

/// `lopt plot`: loss curves from `--metrics` files as one SVG.
struct Plot: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Draw loss curves from metrics files (JSON lines) as an SVG.",
    discussion: """
      Each file is a `lopt train --metrics` output: one object per line with "step", "loss" \
      and optionally "valid_loss". Every file gives a training-loss curve (and a validation \
      curve when present), named after the file. The y axis is logarithmic when the losses \
      span more than a decade.
      """)

  @Argument(help: "Metrics files (JSON lines).")
  var files: [String]

  @Option(name: .shortAndLong, help: "The SVG file to write.")
  var output: String = "loss.svg"

  @Option(help: "The chart's title.")
  var title: String = "Training loss"

  @Flag(help: "Leave out the validation curves.")
  var trainOnly = false

  func validate() throws {
    guard !files.isEmpty else { throw ValidationError("give at least one metrics file") }
    try FlagChecks.checkNotEmpty(output, flag: "--output")
  }

  /// One metrics line.
  struct Record: Decodable {
    var step: Int
    var loss: Float
    var validLoss: Float?

    enum CodingKeys: String, CodingKey {
      case step, loss
      case validLoss = "valid_loss"
    }
  }

  /// Reads every record of `path`.
  ///
  /// - Throws: ``ValidationError`` naming the file and line that cannot be read.
  static func records(in path: String) throws -> [Record] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ValidationError("cannot read metrics file '\(path)'")
    }
    let decoder = JSONDecoder()
    var records: [Record] = []
    for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
      do {
        records.append(try decoder.decode(Record.self, from: Data(line.utf8)))
      } catch {
        throw ValidationError(
          "\(path):\(index + 1) is not a metrics record ({\"step\", \"loss\", …}): \(line)")
      }
    }
    return records
  }

  /// The chart of the given files.
  func makePlot() throws -> SVGPlot {
    var series: [SVGPlot.Series] = []
    for (index, file) in files.enumerated() {
      let records = try Self.records(in: file)
      let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
      series.append(
        .init(
          name: name, points: records.map { (Double($0.step), Double($0.loss)) },
          colorIndex: index))
      let valid = records.compactMap { r in r.validLoss.map { (Double(r.step), Double($0)) } }
      if !trainOnly && !valid.isEmpty {
        series.append(
          .init(name: name + " (valid)", points: valid, isDashed: true, colorIndex: index))
      }
    }
    return SVGPlot(title: title, xLabel: "step", yLabel: "loss", series: series)
  }

  func run() throws {
    try AtomicFile.write(makePlot().render(), to: URL(fileURLWithPath: output))
    print("wrote \(output)")
  }
}
