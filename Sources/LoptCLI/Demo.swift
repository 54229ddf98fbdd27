import ArgumentParser
import Foundation
import LoptCore
import LoptMeta

/// `lopt demo`: the whole story on the shipped data in a few minutes — meta-train a small
/// learned optimizer, then evaluate it against learning-rate-tuned Adam on held-out tasks.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Meta-train a small learned optimizer on the shipped 8×8 images, then evaluate it against "
      + "tuned Adam.",
    discussion: """
      Runs `lopt meta-train` on a shortened --config (shorter unrolls and fewer outer steps) \
      into DIR/meta-train, then `lopt eval` of the learned optimizer and of Adam on the \
      in-distribution suite (held-out seeds of the same tasks) against Adam tuned on a \
      seven-point learning-rate grid, into DIR/eval. Run it again to continue: meta-training \
      resumes from its checkpoint and evaluation runs are cached.
      """)

  @Option(help: "The meta-training configuration to shorten (run from the repository).")
  var config = "configs/fast-mlp.yaml"

  @Option(help: "The folder for the meta-training run and the evaluation report.")
  var out = "lopt-demo"

  @Option(name: .customLong("outer-steps"), help: "Outer steps of meta-training.")
  var outerSteps = 150

  @Option(help: "Training steps of each evaluation run.")
  var steps = 300

  func validate() throws {
    guard outerSteps >= 1 else { throw ValidationError("--outer-steps must be ≥ 1") }
    guard steps >= 2 else { throw ValidationError("--steps must be ≥ 2") }
  }

  func run() throws {
    guard let data = FileManager.default.contents(atPath: config) else {
      throw ValidationError(
        "cannot read '\(config)': run `lopt demo` from the repository, or pass --config")
    }
    var configuration = try MetaTrainingConfiguration(yaml: String(decoding: data, as: UTF8.self))
    configuration.truncation.minimum = min(configuration.truncation.minimum, 50)
    configuration.truncation.maximum = min(configuration.truncation.maximum, 300)
    configuration.evaluation.every = 50
    configuration.evaluation.steps = steps
    configuration.checkpointSeconds = 30
    let folder = URL(fileURLWithPath: out)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let shortened = folder.appendingPathComponent("meta-train.yaml")
    try AtomicFile.write(configuration.json() + "\n", to: shortened)
    let run = RunDirectory(url: folder.appendingPathComponent("meta-train"))
    print("1/2  Meta-training a learned optimizer (\(config), shortened) into \(run.url.path)")
    fflush(nil)
    var metaTrain = try MetaTrain.parse([
      shortened.path, "--out", run.url.path, "--outer-steps", "\(outerSteps)",
    ])
    metaTrain.resume = !run.checkpointSteps().isEmpty
    try metaTrain.run()
    let report = folder.appendingPathComponent("eval")
    print("\n2/2  Evaluating it against learning-rate-tuned Adam on held-out seeds")
    fflush(nil)
    let eval = try Eval.parse([
      "--optimizer", "learned=lopt:\(run.optimizerURL.path)", "--optimizer", "adam",
      "--suite", "in-distribution", "--steps", "\(steps)", "--seeds", "2", "--baselines", "adam",
      "--grid", "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1", "--out", report.path,
    ])
    try eval.run()
    print("\nReport: \(report.appendingPathComponent("report.md").path)")
  }
}
