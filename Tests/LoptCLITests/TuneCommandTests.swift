import ArgumentParser
import Foundation
import Testing

@testable import LoptCLI

@Suite(.timeLimit(.minutes(1))) struct TuneCommandTests {
  @Test func parsesTheSweepOptions() throws {
    let tune = try #require(
      try LoptCommand.parseAsRoot([
        "tune", "--optimizer", "lion", "--steps", "20", "--seeds", "2", "--grid", "0.1, 0.01",
        "--cache", "/tmp/c", "--output", "out",
      ]) as? Tune)
    #expect(tune.optimizer.optimizer == .handDesigned(.lion) && tune.steps == 20 && tune.seeds == 2)
    #expect(try tune.learningRates == [0.1, 0.01])
  }

  @Test func theDefaultGridIsVeLOs() throws {
    let tune = try #require(try LoptCommand.parseAsRoot(["tune"]) as? Tune)
    #expect(try tune.learningRates.count == 15 && tune.seeds == 3)
  }

  @Test(arguments: [
    (["--grid", "0.1,x"], "--grid takes positive learning rates"),
    (["--grid", "0.1,-1"], "--grid takes positive learning rates"),
    (["--seeds", "0"], "--seeds must be in 1...1000, got 0"),
    (["--output", ""], "--output must name a file or folder"),
    (["--lr", "0.1"], "--lr cannot be combined with tune"),
  ])
  func rejectsBadSweepOptions(arguments: [String], message: String) {
    do {
      _ = try LoptCommand.parseAsRoot(["tune"] + arguments)
      Issue.record("\(arguments) was accepted")
    } catch {
      let text = LoptCommand.message(for: error)
      #expect(text.contains(message), "\(text)")
    }
  }

  @Test func aTinySweepRecordsDivergenceWritesResultsAndIsCached() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-tune-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let arguments = [
      "tune", "--optimizer", "sgd", "--hidden", "4", "--batch", "8", "--steps", "4", "--seeds",
      "1", "--grid", "0.1,1e30", "--cache", directory.appendingPathComponent("cache").path,
      "--output", directory.appendingPathComponent("sweep").path,
    ]
    var tune = try #require(try LoptCommand.parseAsRoot(arguments) as? Tune)
    try tune.run()
    let lines = try String(
      contentsOf: directory.appendingPathComponent("sweep.jsonl"), encoding: .utf8
    ).split(separator: "\n")
    #expect(lines.count == 3)
    #expect(lines[0].contains("\"best\":true") && lines[0].contains("\"learning_rate\":0.1"))
    #expect(lines[1].contains("\"diverged_seeds\":[0]"))
    #expect(lines[2].hasPrefix("{\"lower_envelope\":["))
    let svg = try String(
      contentsOf: directory.appendingPathComponent("sweep.svg"), encoding: .utf8)
    #expect(svg.contains("learning rate (log scale)"))
    let cacheFolder = directory.appendingPathComponent("cache").path
    let cached = try FileManager.default.contentsOfDirectory(atPath: cacheFolder)
    #expect(cached.count == 2)
    // The second identical sweep trains nothing, so no cache file is rewritten.
    let dates = try cached.map {
      try FileManager.default.attributesOfItem(atPath: cacheFolder + "/" + $0)[.modificationDate]
        as? Date
    }
    tune = try #require(try LoptCommand.parseAsRoot(arguments) as? Tune)
    try tune.run()
    let again = try cached.map {
      try FileManager.default.attributesOfItem(atPath: cacheFolder + "/" + $0)[.modificationDate]
        as? Date
    }
    #expect(again == dates)
  }

  @Test func progressTextCountsCachedRunsAndEstimatesTheRest() {
    #expect(
      Tune.progressText(done: 6, total: 10, cached: 2, elapsed: 8)
        == "runs 6/10 (2 cached)  0:08 elapsed  ETA 0:08")
    #expect(Tune.progressText(done: 2, total: 10, cached: 2, elapsed: 0).hasSuffix("ETA -"))
  }
}
