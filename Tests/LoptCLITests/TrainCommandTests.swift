import ArgumentParser
import Foundation
import LoptData
import Testing

@testable import LoptCLI

@Suite struct TrainCommandTests {
  @Test func parsesEveryOption() throws {
    let command = try LoptCommand.parseAsRoot([
      "train", "--data", "fashion8", "--hidden", "64, 32", "--batch", "16", "--steps", "50",
      "--lr", "0.01", "--seed", "9", "--log-every", "5", "--metrics", "m.jsonl",
      "--data-dir", NSTemporaryDirectory(),
    ])
    let train = try #require(command as? Train)
    #expect(train.task.data == .fashion8)
    #expect(try train.task.hiddenWidths == [64, 32])
    #expect(train.task.batch == 16 && train.steps == 50 && train.seed == 9)
    #expect(train.optimizer.lr == 0.01)
    #expect(
      train.logEvery == 5 && train.metrics == "m.jsonl"
        && train.task.dataDir == NSTemporaryDirectory())
  }

  @Test func emptyHiddenMeansALinearClassifier() throws {
    let train = try #require(try LoptCommand.parseAsRoot(["train", "--hidden", ""]) as? Train)
    #expect(try train.task.hiddenWidths == [])
  }

  @Test(arguments: [
    (["--hidden", "3,x"], "--hidden takes widths in 1...16384"),
    (["--hidden", "0"], "--hidden takes widths in 1...16384"),
    (["--hidden", "16385"], "--hidden takes widths in 1...16384"),
    (["--hidden", "16384,16384"], "needs about 4147 MiB, more than the 512 MiB"),
    (["--batch", "0"], "--batch must be in 1...4096, got 0"),
    (["--steps=-3"], "--steps must be in 1...10000000, got -3"),
    (["--steps", "\(Int.max)"], "--steps must be in 1...10000000"),
    (
      ["--data-dir", "/nonexistent/lopt-data"], "--data-dir '/nonexistent/lopt-data' does not exist"
    ),
    (["--data-dir", ""], "--data-dir '' does not exist"),
    (["--data-dir", "/etc/hostname"], "is a file, not a folder"),
    (["--lr=-1"], "--lr must be a positive number"),
    (["--lr", "nan"], "--lr must be a positive number"),
    (["--log-every", "0"], "--log-every must be positive"),
  ])
  func rejectsBadValuesWithAClearMessage(arguments: [String], message: String) {
    do {
      _ = try LoptCommand.parseAsRoot(["train"] + arguments)
      Issue.record("\(arguments) was accepted")
    } catch {
      #expect(
        LoptCommand.message(for: error).contains(message), "\(LoptCommand.message(for: error))")
    }
  }

  @Test func rejectsAnUnknownDataSetListingTheChoices() {
    #expect(throws: (any Error).self) {
      _ = try LoptCommand.parseAsRoot(["train", "--data", "nope"])
    }
    let help = LoptCommand.helpMessage(for: Train.self).split(whereSeparator: \.isWhitespace)
      .joined(separator: " ")
    #expect(help.contains("values: digits, fashion8, fashion16, fashion, mnist8"), "\(help)")
  }

  @Test func rootHelpListsTheCommands() {
    let help = LoptCommand.helpMessage()
    #expect(
      help == """
        OVERVIEW: Learned optimizers: train with them, meta-train them, evaluate them.

        USAGE: lopt <subcommand>

        OPTIONS:
          -h, --help              Show help information.

        SUBCOMMANDS:
          train                   Train a task (an MLP by default, or --task/--spec)
                                  with an optimizer.
          tune                    Find an optimizer's best learning rate on a task.
          meta-train              Meta-train a learned optimizer with evolution
                                  strategies over a task distribution.
          eval                    Evaluate optimizers on a task suite: speedup over
                                  learning-rate-tuned Adam.
          plot                    Draw loss curves from metrics files (JSON lines) as
                                  an SVG.
          tasks                   List, sample and time training tasks.
          lopt                    Inspect and convert learned-optimizer checkpoints
                                  (Lopt safetensors, flax msgpack, PyLO).
          demo                    Evaluate the shipped learned optimizer against tuned
                                  Adam and Adam + cosine, then meta-train it a little
                                  further.
          bench                   Measure training steps/s and optimizer updates (one
                                  thread) and meta-training.

          See 'lopt help <subcommand>' for detailed help.
        """)
  }
}

@Suite(.timeLimit(.minutes(1))) struct LoptBinaryTests {
  /// The `lopt` executable built beside the test bundle.
  static var binary: URL { Bundle.main.bundleURL.appendingPathComponent("lopt") }

  static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
      process.terminationStatus, String(decoding: outputData, as: UTF8.self),
      String(decoding: errorData, as: UTF8.self)
    )
  }

  @Test func trainsAndWritesMetricsAsJSONLines() throws {
    try #require(
      FileManager.default.isExecutableFile(atPath: Self.binary.path),
      "build the lopt executable first (swift build)")
    let metrics = FileManager.default.temporaryDirectory
      .appendingPathComponent("lopt-metrics-\(UUID().uuidString).jsonl")
    defer { try? FileManager.default.removeItem(at: metrics) }
    let result = try Self.run([
      "train", "--steps", "30", "--batch", "16", "--log-every", "10", "--metrics", metrics.path,
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("Training MLP 64-32-32-10 on digits, batch 16"))
    #expect(result.output.contains("final: train loss"))
    #expect(result.output.contains("valid accuracy"))
    #expect(result.output.contains("accuracy: train "))
    let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 4)  // steps 0, 10, 20 and 29
    let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
    #expect(first?["step"] as? Int == 0)
    #expect((first?["loss"] as? Double).map { $0 > 2 } == true)
    let accuracy = first?["valid_accuracy"] as? Double
    #expect(accuracy.map { 0...1 ~= $0 } == true, "valid_accuracy \(String(describing: accuracy))")
    #expect(!FileManager.default.fileExists(atPath: metrics.path + ".partial"))
  }

  @Test func badFlagsExitWithUsageStatus() throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path))
    let result = try Self.run(["train", "--batch", "0"])
    #expect(result.status == 64)
    #expect(result.error.contains("--batch must be in 1...4096, got 0"))
  }
}
