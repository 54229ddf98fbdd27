import ArgumentParser
import Foundation
import LoptCore
import LoptEval
import LoptLearned
import Testing

@testable import LoptCLI

@Suite(.timeLimit(.minutes(1))) struct EvalCommandTests {
  static func directory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-eval-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A one-task suite file in `directory`: a `hidden`-wide MLP on digits, `steps` steps, one seed.
  static func tinySuite(in directory: URL, steps: Int, hidden: Int, batch: Int) throws -> URL {
    let suite = directory.appendingPathComponent("tiny.yaml")
    try """
    steps: \(steps)
    seeds: 1
    tasks:
      - name: mlp-digits
        spec: {family: image-mlp, model: {hiddenWidths: [\(hidden)]},
               data: {dataset: digits, imageSize: 8}, batchSize: \(batch), activation: relu}
    """.write(to: suite, atomically: true, encoding: .utf8)
    return suite
  }

  @Test func parsesTheOptions() throws {
    let eval = try #require(
      try LoptCommand.parseAsRoot([
        "eval", "--optimizer", "adam", "--optimizer", "velo:x.safetensors", "--suite", "ood",
        "--steps", "20", "--seeds", "2", "--out", "o", "--baselines", "adam,sgdm",
        "--adam-multiple", "5", "--threads", "2", "--grid", "0.1,0.01",
      ]) as? Eval)
    #expect(eval.optimizers == ["adam", "velo:x.safetensors"] && eval.suite == "ood")
    #expect(try eval.baselineNames == ["adam", "sgdm"] && eval.adamMultiple == 5)
    #expect(try eval.learningRates == [0.1, 0.01] && eval.threads == 2)
  }

  @Test(arguments: [
    (["--out", "o"], "give at least one --optimizer"),
    (["--optimizer", "adamm", "--out", "o"], "--optimizer: unknown optimizer 'adamm'"),
    (["--optimizer", "sgd", "--out", "o", "--baselines", "sgdm"], "--baselines must include adam"),
    (["--optimizer", "sgd", "--out", "o", "--baselines", "adam,x"], "--baselines: unknown"),
    (
      ["--optimizer", "sgd", "--out", "o", "--steps", "1"], "--steps must be in 2...10000000, got 1"
    ),
    (["--optimizer", "sgd", "--out", "o", "--grid", "a"], "--grid takes positive"),
    (
      ["--optimizer", "sgd", "--out", "o", "--adam-multiple", "1000000000"],
      "--adam-multiple must be in 1...100"
    ),
    (["--optimizer", "sgd", "--out", ""], "--out must name a file or folder"),
    (
      ["--optimizer", "sgd", "--out", "o", "--data-dir", "/nonexistent"],
      "--data-dir '/nonexistent' does not exist"
    ),
  ])
  func rejectsBadOptions(arguments: [String], message: String) {
    rejects(arguments, message: message)
  }

  @Test func aRunLongerThanTheLimitIsRefusedBeforeTraining() throws {
    let command = try LoptCommand.parseAsRoot([
      "eval", "--optimizer", "sgd", "--out", "o", "--steps", "10000000", "--adam-multiple", "10",
    ])
    let eval = try #require(command as? Eval)
    let error = #expect(throws: ValidationError.self) { _ = try eval.makeEvaluation() }
    #expect(error?.message.contains("more than the 10000000 steps a run may have") == true)
  }

  private func rejects(_ arguments: [String], message: String) {
    do {
      _ = try LoptCommand.parseAsRoot(["eval"] + arguments)
      Issue.record("\(arguments) was accepted")
    } catch {
      let text = LoptCommand.message(for: error)
      #expect(text.contains(message), "\(text)")
    }
  }

  @Test func aCheckpointOfAnotherKindIsNotVeLO() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let configuration = LearnedOptimizerConfiguration.mlpLOpt(MLPLOpt.Configuration())
    let file = directory.appendingPathComponent("mlp.safetensors")
    try Checkpoint(
      configuration: configuration,
      metaParameters: ParameterSet(layout: configuration.metaParameterLayout),
      metaTrainingCoreHours: 1.5
    ).write(to: file, format: .safetensors)
    #expect(throws: ValidationError.self) { try Eval.evaluated("velo:" + file.path) }
    let learned = try Eval.evaluated("lopt:" + file.path)
    #expect(!learned.isTuned && learned.metaTrainingCoreHours == 1.5)
    let labelled = try Eval.evaluated("mine=lopt:" + file.path)
    #expect(labelled.name == "mine" && labelled.identity == learned.identity)
    try Data("not a checkpoint".utf8).write(to: file)
    #expect(throws: CheckpointError.self) { try Eval.evaluated("lopt:" + file.path) }
  }

  @Test func aTinyEvaluationWritesTheReportAndResumesFromTheCache() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let suite = try Self.tinySuite(in: directory, steps: 12, hidden: 4, batch: 8)
    let out = directory.appendingPathComponent("out")
    let cache = directory.appendingPathComponent("cache")
    let arguments = [
      "eval", "--optimizer", "adam", "--optimizer", "sgd", "--suite", suite.path, "--out",
      out.path, "--baselines", "adam,sgdm", "--adam-multiple", "3", "--grid", "0.01,0.1",
      "--cache", cache.path,
    ]
    var eval = try #require(try LoptCommand.parseAsRoot(arguments) as? Eval)
    try eval.run()
    let files = try Set(FileManager.default.contentsOfDirectory(atPath: out.path))
    #expect(files == ["report.md", "results.json", "speedup.svg", "loss-mlp-digits.svg"])
    let report = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(report.contains("| adam | none (hand-designed, learning rate tuned) |"))
    #expect(report.contains("Evaluation wall time: ") && report.contains("### mlp-digits"))
    #expect(
      report.contains(
        "| optimizer | learning rate | final loss | test accuracy | loss / tuned Adam |"))
    #expect(report.contains(" %"), "the classifier's accuracies are percentages")
    let json =
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: out.appendingPathComponent("results.json"))) as? [String: Any]
    #expect((json?["tasks"] as? [Any])?.count == 1 && json?["aggregates"] != nil)
    let task = (json?["tasks"] as? [[String: Any]])?.first
    for run in task?["optimizers"] as? [[String: Any]] ?? [] {
      let accuracy = run["accuracy"] as? Double
      #expect(accuracy.map { 0...1 ~= $0 } == true, "accuracy \(String(describing: accuracy))")
    }
    let speedup = try String(
      contentsOf: out.appendingPathComponent("speedup.svg"), encoding: .utf8)
    #expect(speedup.contains("speedup (log scale)") && speedup.contains("tuned Adam (1×)"))

    // (2 optimizers + 2 baselines) × 2 rates × 1 seed runs, each cached once; a rerun (as after
    // an interruption) trains nothing, so no cache file is rewritten.
    let names = try FileManager.default.contentsOfDirectory(atPath: cache.path)
    #expect(names.count == 8)
    func dates() throws -> [Date?] {
      try names.map {
        try FileManager.default.attributesOfItem(
          atPath: cache.appendingPathComponent($0).path)[.modificationDate] as? Date
      }
    }
    let before = try dates()
    try FileManager.default.removeItem(at: cache.appendingPathComponent(names[0]))
    eval = try #require(try LoptCommand.parseAsRoot(arguments) as? Eval)
    try eval.run()
    let after = try dates()
    #expect(after.dropFirst() == before.dropFirst() && after[0] != nil)
  }

  @Test func theShippedOptimizerAndAdamCosineAreComparedWithEachOther() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let suite = try Self.tinySuite(in: directory, steps: 30, hidden: 8, batch: 16)
    let out = directory.appendingPathComponent("out")
    let eval = try #require(
      try LoptCommand.parseAsRoot([
        "eval", "--optimizer", "learned", "--optimizer", "adam-cosine", "--suite", suite.path,
        "--out", out.path, "--baselines", "adam", "--adam-multiple", "2", "--grid",
        "0.003,0.03", "--cache", directory.appendingPathComponent("cache").path,
      ]) as? Eval)
    try eval.run()
    let result = try JSONDecoder().decode(
      EvaluationResult.self, from: Data(contentsOf: out.appendingPathComponent("results.json")))
    let runs = result.tasks[0].optimizers
    let (learned, cosine) = (runs[0], runs[1])
    #expect(learned.name == "learned" && learned.learningRate == nil)
    #expect(cosine.name == "adam-cosine" && cosine.learningRate != nil)
    let ratio = try #require(learned.speedups["adam-cosine"])
    let adam = try #require(learned.speedups["adam"])
    #expect(abs(ratio - adam / cosine.speedups["adam"]!) < 1e-9)
    #expect(cosine.speedups["adam-cosine"] == nil)
    #expect(result.aggregates["learned"]?["adam-cosine"]?.count == 1)
    let report = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    #expect(report.contains("## Against tuned Adam + cosine"))
    #expect(report.contains("| speedup vs adam | speedup vs adam-cosine |"))
  }

  @Test func progressEstimatesFromTheStepsStillToTrain() {
    let progress = RunProgress(
      runsDone: 3, runs: 10, stepsDone: 300, steps: 1000, cachedRuns: 1, cachedSteps: 100)
    #expect(
      Eval.progressText(progress, elapsed: 20)
        == "runs 3/10 (1 cached), steps 30%  0:20 elapsed  ETA 1:10")
  }
}
