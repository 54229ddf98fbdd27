import ArgumentParser
import Foundation
import LoptCore
import LoptLearned
import LoptMeta
import LoptOptimizers

/// `lopt demo`: the shipped learned optimizer against tuned Adam and tuned Adam + cosine on
/// held-out tasks, then a few minutes of meta-training continuing from it.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Evaluate the shipped learned optimizer against tuned Adam and Adam + cosine, then "
      + "meta-train it a little further.",
    discussion: """
      Runs `lopt eval` of the shipped learned optimizer (`learned`), of Adam and of Adam with \
      warm-up and cosine decay on the in-distribution suite (held-out seeds of the tasks it was \
      meta-trained on) against Adam tuned on a seven-point learning-rate grid, into DIR/eval; \
      then `lopt meta-train` on a shortened --config (unrolls of at most 1000 steps, fewer \
      pairs and outer steps) starting from the shipped meta-parameters, into DIR/meta-train, \
      measuring its speedup on the config's selection suite. Run it again to \
      continue: meta-training resumes from its checkpoint and evaluation runs are cached.
      """)

  @Option(help: "The meta-training configuration to shorten (run from the repository).")
  var config = "configs/scheduled-orthogonal.yaml"

  @Option(help: "The folder for the evaluation report and the meta-training run.")
  var out = "lopt-demo"

  @Option(name: .customLong("outer-steps"), help: "Outer steps of meta-training.")
  var outerSteps = 30

  @Option(help: "Training steps of each evaluation run.")
  var steps = 1000

  func validate() throws {
    guard outerSteps >= 1 else { throw ValidationError("--outer-steps must be ≥ 1") }
    guard steps >= 2 else { throw ValidationError("--steps must be ≥ 2") }
  }

  func run() throws {
    guard let data = FileManager.default.contents(atPath: config) else {
      throw ValidationError(
        "cannot read '\(config)': run `lopt demo` from the repository, or pass --config")
    }
    let folder = URL(fileURLWithPath: out)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let report = folder.appendingPathComponent("eval")
    print("1/2  Evaluating the shipped learned optimizer against tuned Adam and Adam + cosine")
    fflush(nil)
    let eval = try Eval.parse([
      "--optimizer", "learned", "--optimizer", "adam", "--optimizer", "adam-cosine",
      "--suite", "in-distribution", "--steps", "\(steps)", "--seeds", "2", "--baselines", "adam",
      "--grid", "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1", "--out", report.path,
    ])
    try eval.run()
    print("Report: \(report.appendingPathComponent("report.md").path)")

    var configuration = try MetaTrainingConfiguration(yaml: String(decoding: data, as: UTF8.self))
    configuration.learnedOptimizer.initialCheckpoint = try ShippedLearnedOptimizer.location().path
    configuration.truncation.maximum = min(configuration.truncation.maximum, 1000)
    configuration.estimator.pairs = min(configuration.estimator.pairs, 8)
    configuration.outer.schedule = LearningRateSchedule()
    configuration.evaluation.every = 15
    configuration.checkpointSeconds = 30
    let shortened = folder.appendingPathComponent("meta-train.yaml")
    try AtomicFile.write(configuration.json() + "\n", to: shortened)
    let run = RunDirectory(url: folder.appendingPathComponent("meta-train"))
    print(
      "\n2/2  Meta-training it further (\(config), shortened, from the shipped checkpoint) "
        + "into \(run.url.path)")
    fflush(nil)
    var metaTrain = try MetaTrain.parse([
      shortened.path, "--out", run.url.path, "--outer-steps", "\(outerSteps)",
    ])
    metaTrain.resume = !run.checkpointSteps().isEmpty
    try metaTrain.run()
  }
}
