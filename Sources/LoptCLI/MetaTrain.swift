import ArgumentParser
import Foundation
import LoptCore
import LoptEval
import LoptMeta
import LoptTasks
import LoptTraining
import Synchronization

/// `lopt meta-train`: meta-trains a learned optimizer with evolution strategies.
struct MetaTrain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "meta-train",
    abstract: "Meta-train a learned optimizer with evolution strategies over a task distribution.",
    discussion: """
      CONFIG is a YAML file (see configs/ in the repository); every field has a default and \
      unknown keys are errors. RUN_DIR receives config.yaml (the resolved configuration), \
      metrics.jsonl, state checkpoints and optimizer.safetensors (the newest learned optimizer, \
      for `lopt train --checkpoint` and `lopt eval`). Ctrl-C stops after the current outer step \
      with a checkpoint; --resume continues a stopped or killed run exactly where its last \
      checkpoint left it.
      """)

  @Argument(help: "The run's YAML configuration (optional with --resume: RUN_DIR's is used).")
  var config: String?

  @Option(name: .customLong("out"), help: "The run directory.")
  var out: String

  @Flag(help: "Continue the run in RUN_DIR from its newest intact checkpoint.")
  var resume = false

  @Option(name: .customLong("outer-steps"), help: "Override outer.steps.")
  var outerSteps: Int?

  @Option(help: "Override threads (0: one per core).")
  var threads: Int?

  @Option(help: "Override the run's seed.")
  var seed: UInt64?

  func validate() throws {
    if config == nil && !resume {
      throw ValidationError("give a CONFIG file (or --resume to continue RUN_DIR's run)")
    }
    try FlagChecks.checkNotEmpty(out, flag: "--out")
    if let outerSteps {
      try FlagChecks.check(outerSteps, in: 0...maximumTrainingSteps, flag: "--outer-steps")
    }
    if let threads { try FlagChecks.check(threads, in: 0...1024, flag: "--threads") }
  }

  func run() throws {
    let directory = RunDirectory(url: URL(fileURLWithPath: out))
    let path = config ?? directory.configurationURL.path
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ValidationError("cannot read the configuration '\(path)'")
    }
    var configuration: MetaTrainingConfiguration
    do {
      configuration = try MetaTrainingConfiguration(yaml: String(decoding: data, as: UTF8.self))
    } catch let error as TaskSpecError {
      throw ValidationError("\(path): \(error.reason)")
    } catch {
      throw ValidationError("\(path): \(error)")
    }
    if let outerSteps { configuration.outer.steps = outerSteps }
    if let threads { configuration.threads = threads }
    if let seed { configuration.seed = seed }
    try configuration.validate()
    BLAS.useSingleThread()
    for signalNumber in [SIGINT, SIGTERM] {
      signal(signalNumber) { _ in MetaTrainingStop.request() }
    }
    let total = configuration.outer.steps
    let progress = Mutex(ProgressLine(total: total, label: "meta-train"))
    let observer = MetaTrainingObserver(
      didStep: { record in
        progress.withLock { line in
          line.update(step: record.step) { _ in Self.progressText(record, total: total) }
        }
      },
      didEvaluate: { record in
        progress.withLock { _ in
          let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
          FileHandle.standardError.write(
            Data((clear + Self.evaluationText(record) + "\n").utf8))
        }
      },
      warn: { message in FileHandle.standardError.write(Data((message + "\n").utf8)) })
    let exchange = try MPILaunch.makeExchange()
    let summary = try MPILaunch.run(on: exchange) {
      try metaTrain(
        configuration, directory: directory, resume: resume, exchange: exchange,
        observer: observer)
    }
    guard exchange.rank == 0 else { return }
    progress.withLock { $0.finish() }
    try MetaTrainingPlot.write(for: directory)
    print(
      (summary.wasInterrupted ? "stopped" : "finished") + " after \(summary.steps) outer steps "
        + String(format: "(%.2f core-hours)", summary.coreSeconds / 3600) + "; learned optimizer: "
        + directory.optimizerURL.path + "; progress chart: "
        + directory.url.appendingPathComponent(MetaTrainingPlot.fileName).path)
  }

  /// The progress line: outer step, meta-loss, inner steps/s, ETA.
  static func progressText(_ record: OuterStepRecord, total: Int) -> String {
    let loss = record.metaLoss.map(formatted) ?? "diverged"
    let eta = Double(total - record.step) * record.seconds
    return "meta-train \(record.step)/\(total)  meta-loss \(loss)  "
      + String(format: "%.0f", record.innerStepsPerSecond) + " inner steps/s  "
      + "ETA ~\(ProgressLine.duration(eta))"
  }

  /// One line per evaluation.
  static func evaluationText(_ record: EvaluationRecord) -> String {
    "evaluation at outer step \(record.step): mean final loss "
      + (record.meanLoss.map(formatted) ?? "diverged") + " (Adam 1e-3: "
      + (record.adamMeanLoss.map(formatted) ?? "diverged") + ")"
      + (record.divergedRuns > 0 ? ", \(record.divergedRuns) runs diverged" : "")
      + (record.speedups.map {
        "; speedup over tuned Adam median \(formatted(Float($0.median))), faster on "
          + "\(Int(($0.fractionFaster * 100).rounded()))% of \($0.count) tasks"
      } ?? "")
  }
}
