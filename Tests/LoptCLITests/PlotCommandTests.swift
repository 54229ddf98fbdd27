import ArgumentParser
import Foundation
import Testing

@testable import LoptCLI

@Suite struct PlotCommandTests {
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-plot-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func drawsTrainingAndValidationCurvesOfEveryFile() throws {
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    for (name, scale) in [("adam", 1.0), ("sgd", 3.0)] {
      let lines = (0..<20).map { step in
        let loss = scale * 2.3 / (1 + Double(step))
        return
          "{\"loss\":\(loss),\"seconds\":0.1,\"step\":\(step * 10),\"valid_loss\":\(loss * 1.1)}"
      }
      try lines.joined(separator: "\n").write(
        to: directory.appendingPathComponent(name + ".jsonl"), atomically: true, encoding: .utf8)
    }
    let output = directory.appendingPathComponent("out.svg").path
    let plot = try #require(
      try LoptCommand.parseAsRoot([
        "plot", directory.appendingPathComponent("adam.jsonl").path,
        directory.appendingPathComponent("sgd.jsonl").path, "-o", output,
      ]) as? Plot)
    try plot.run()
    let svg = try String(contentsOfFile: output, encoding: .utf8)
    #expect(svg.components(separatedBy: "<polyline").count == 5)
    #expect(svg.contains(">adam<") && svg.contains(">sgd (valid)<"))
    #expect(svg.contains("loss (log scale)"))
  }

  @Test func aBadLineIsReportedWithFileAndLineNumber() throws {
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("m.jsonl")
    try "{\"step\":0,\"loss\":1}\nnot json\n".write(to: file, atomically: true, encoding: .utf8)
    #expect(throws: ValidationError.self) { try Plot.records(in: file.path) }
    do {
      _ = try Plot.records(in: file.path)
    } catch {
      #expect(String(describing: error).contains("m.jsonl:2"))
    }
  }

  @Test func needsAFile() {
    #expect(throws: (any Error).self) { try LoptCommand.parseAsRoot(["plot"]) }
  }
}
