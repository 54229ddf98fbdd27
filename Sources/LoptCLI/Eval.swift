import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptEval
import LoptLearned
import LoptOptimizers
import LoptTasks
import LoptTraining

/// `lopt eval`: optimizers on a suite of tasks against learning-rate-tuned baselines.
struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Evaluate optimizers on a task suite: speedup over learning-rate-tuned Adam.",
    discussion: """
      Trains every --optimizer on every task of the suite for --steps steps with --seeds \
      seeds, and every baseline for --adam-multiple times as long on each learning rate of \
      the grid, in parallel on all cores. Hand-designed optimizers under evaluation are tuned \
      on the same grid (NAME-cosine, e.g. adam-cosine: NAME with a 5 % warm-up and a cosine \
      decay to zero); learned ones (learned, the shipped one; velo:FILE, lopt:FILE) run as they are. The speedup over \
      a baseline is the number of steps the tuned baseline needs to reach the optimizer's \
      final loss, divided by the optimizer's steps (VeLO's metric). Every run is cached, so an \
      interrupted evaluation resumes where it stopped. Writes DIR/report.md, \
      DIR/results.json, DIR/speedup.svg and one DIR/loss-TASK.svg per task. Suites: \
      fixed-small, in-distribution, ood, or a suite YAML file.
      """)

  @Option(
    name: .customLong("optimizer"),
    help: ArgumentHelp(
      "An optimizer to evaluate (repeatable): learned (the learned optimizer Lopt ships), "
        + "velo:FILE (a VeLO checkpoint), lopt:FILE (any learned-optimizer checkpoint), "
        + "adam-cosine (tuned Adam with warm-up and cosine decay; the others are then also "
        + "compared with it), a hand-designed one (\(Self.handDesignedNames)) or one of them "
        + "with a warm-up and cosine decay (NAME-cosine, e.g. muon-cosine); LABEL=… names it "
        + "LABEL in the report.",
      valueName: "optimizer"))
  var optimizers: [String] = []

  @Option(help: "A built-in suite (fixed-small, in-distribution, ood) or a suite YAML file.")
  var suite: String = "fixed-small"

  @Option(help: "Training steps of the evaluated optimizers (default: the suite's, else 1000).")
  var steps: Int?

  @Option(help: "Seeds per run (default: the suite's, else 3).")
  var seeds: Int?

  @Option(help: "The folder for report.md, results.json and the plots.")
  var out: String

  @Option(help: "Tuned baselines, comma separated; must include adam.")
  var baselines: String = "adam,adafactor,shampoo,sgdm,nadamw"

  @Option(help: "The baselines train this many times the evaluated optimizers' steps.")
  var adamMultiple: Int = 10

  @Option(
    help: ArgumentHelp(
      "Learning rates to tune on, comma separated (default: VeLO's grid, 1e-7 … 1; a shorter "
        + "grid saves CPU time)."))
  var grid: String?

  @Option(help: "Runs at a time (default: every core).")
  var threads: Int?

  @Option(help: "The run cache folder (default: $XDG_CACHE_HOME/lopt or ~/.cache/lopt).")
  var cache: String?

  @Option(help: "Look for data files here first (also: the LOPT_DATA_DIR environment variable).")
  var dataDir: String?

  /// The hand-designed names `--optimizer` and `--baselines` take (`sgdm` is `momentum`).
  static let handDesignedNames =
    (OptimizerName.allCases.map(\.rawValue) + ["sgdm"]).joined(separator: ", ")

  func validate() throws {
    guard !optimizers.isEmpty else {
      throw ValidationError("give at least one --optimizer (for example --optimizer adam)")
    }
    if let steps { try FlagChecks.check(steps, in: 2...maximumTrainingSteps, flag: "--steps") }
    if let seeds { try FlagChecks.check(seeds, in: 1...1000, flag: "--seeds") }
    try FlagChecks.check(adamMultiple, in: 1...100, flag: "--adam-multiple")
    if let threads { try FlagChecks.check(threads, in: 1...1024, flag: "--threads") }
    try FlagChecks.checkDirectory(dataDir, flag: "--data-dir")
    try FlagChecks.checkNotEmpty(out, flag: "--out")
    _ = try learningRates
    let names = try baselineNames
    guard names.contains(Evaluation.headlineBaseline) else {
      throw ValidationError(
        "--baselines must include adam: the headline speedup is over tuned Adam")
    }
    for optimizer in optimizers
    where !optimizer.contains(":") && !Self.namedOptimizers.contains(optimizer) {
      let rule =
        optimizer.hasSuffix(Self.cosineSuffix)
        ? String(optimizer.dropLast(Self.cosineSuffix.count)) : optimizer
      _ = try Self.handDesigned(rule, option: "--optimizer")
    }
  }

  /// The learning rates of the grid.
  var learningRates: [Float] {
    get throws { try Tune.learningRates(grid) }
  }

  /// The baselines' names, checked.
  var baselineNames: [String] {
    get throws {
      let names = baselines.split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      for name in names { _ = try Self.handDesigned(name, option: "--baselines") }
      return names
    }
  }

  /// The hand-designed optimizer `name` (`sgdm` is `momentum`).
  ///
  /// - Throws: ``ValidationError`` naming `option` and the known names.
  static func handDesigned(_ name: String, option: String) throws -> OptimizerName {
    guard let optimizer = OptimizerName(rawValue: name == "sgdm" ? "momentum" : name) else {
      throw ValidationError(
        "\(option): unknown optimizer '\(name)'; use velo:FILE, lopt:FILE or one of "
          + handDesignedNames)
    }
    return optimizer
  }

  /// The optimizers `--optimizer` knows by a name of their own.
  static let namedOptimizers: Set = ["learned", Evaluation.scheduleReference]

  /// `--optimizer NAME-cosine` is hand-designed NAME with a warm-up and a cosine decay.
  static let cosineSuffix = "-cosine"

  /// A hand-designed optimizer tuned on the grid, with optax's defaults and no schedule.
  static func tuned(_ name: String, option: String) throws -> EvaluatedOptimizer {
    let rule = try handDesigned(name, option: option)
    return EvaluatedOptimizer(
      name: name, identity: "\(rule.rawValue) schedule=constant",
      kind: .tuned { rule.makeRule(learningRate: $0) })
  }

  /// The optimizer an `--optimizer` value names, loading checkpoints; `LABEL=VALUE` names it
  /// LABEL in the report.
  ///
  /// - Throws: ``ValidationError`` for an unknown name, ``LoptLearned/CheckpointError`` for a
  ///   checkpoint that does not load, or a `velo:` file holding another kind.
  static func evaluated(_ value: String) throws -> EvaluatedOptimizer {
    if let equals = value.firstIndex(of: "="),
      !value[..<equals].contains(":"), !value[..<equals].contains("/")
    {
      var optimizer = try evaluated(String(value[value.index(after: equals)...]))
      optimizer.name = String(value[..<equals])
      return optimizer
    }
    if value.hasSuffix(cosineSuffix), !value.contains(":") {
      let rule = try handDesigned(String(value.dropLast(cosineSuffix.count)), option: "--optimizer")
      return Evaluation.withCosineSchedule(name: value, rule: rule.rawValue) {
        rule.makeRule(learningRate: $0)
      }
    }
    if value == "learned" {
      return try learned(try ShippedLearnedOptimizer.location(), name: value)
    }
    guard let colon = value.firstIndex(of: ":") else {
      return try tuned(value, option: "--optimizer")
    }
    let prefix = String(value[..<colon])
    let path = String(value[value.index(after: colon)...])
    guard prefix == "velo" || prefix == "lopt" else {
      throw ValidationError(
        "--optimizer \(value): the prefix must be velo: or lopt: (a checkpoint file)")
    }
    let url = URL(fileURLWithPath: path)
    if prefix == "velo", try Checkpoint.load(url).kind != .velo {
      throw ValidationError(
        "--optimizer \(value): \(path) holds a \(try Checkpoint.load(url).kind.rawValue) "
          + "checkpoint, not VeLO; use lopt:\(path)")
    }
    return try learned(url, name: value)
  }

  /// The learned optimizer in the checkpoint at `url`, used as it is.
  ///
  /// - Throws: ``LoptLearned/CheckpointError`` for a checkpoint that does not load.
  static func learned(_ url: URL, name value: String) throws -> EvaluatedOptimizer {
    let checkpoint = try Checkpoint.load(url)
    let bytes = try FileContents.read(url)
    return EvaluatedOptimizer(
      name: value,
      identity:
        "learned \(checkpoint.kind.rawValue) \(checkpoint.kind.ruleRevision == 1 ? "" : "r\(checkpoint.kind.ruleRevision) ")\(fnv1aDigest(bytes))",
      kind: .fixed(try checkpoint.makeOptimizer()),
      metaTrainingCoreHours: checkpoint.metaTrainingCoreHours)
  }

  /// The evaluation these options describe (loads the suite and the checkpoints).
  func makeEvaluation() throws -> Evaluation {
    let suite = try EvaluationSuite.load(self.suite)
    let runSteps = steps ?? suite.steps ?? 1000
    for entry in suite.tasks {
      let (evaluated, overflow) = runSteps.multipliedReportingOverflow(by: entry.stepMultiple)
      let (baseline, overflows) = evaluated.multipliedReportingOverflow(by: adamMultiple)
      guard !overflow, !overflows, baseline <= maximumTrainingSteps else {
        throw ValidationError(
          "\(entry.name): \(runSteps) steps × stepMultiple \(entry.stepMultiple) × "
            + "--adam-multiple \(adamMultiple) is more than the \(maximumTrainingSteps) steps a "
            + "run may have; lower --steps or the suite's stepMultiple")
      }
    }
    return Evaluation(
      suite: suite, optimizers: try optimizers.map(Self.evaluated),
      baselines: try baselineNames.map { try Self.tuned($0, option: "--baselines") },
      steps: steps ?? suite.steps ?? 1000, seeds: seeds ?? suite.seeds ?? 3,
      learningRates: try learningRates, baselineMultiple: adamMultiple,
      locator: DataLocator(directory: dataDir))
  }

  func run() throws {
    BLAS.useSingleThread()
    let evaluation = try makeEvaluation()
    let cache = try RunCache(
      directory: cache.map { URL(fileURLWithPath: $0) } ?? RunCache.defaultDirectory)
    print(
      "Evaluating \(evaluation.optimizers.map(\.name).joined(separator: ", ")) on the "
        + "\(evaluation.suite.name) suite (\(evaluation.suite.tasks.count) tasks): "
        + "\(evaluation.steps) steps × \(evaluation.seeds) seeds, baselines "
        + "\(evaluation.baselines.map(\.name).joined(separator: ", ")) × "
        + "\(evaluation.learningRates.count) learning rates × \(adamMultiple * evaluation.steps) "
        + "steps; cache \(cache.directory.path)")
    let isTerminal = isatty(STDERR_FILENO) == 1
    let start = Date()
    let result = try evaluation.run(
      cache: cache, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount
    ) { progress in
      guard isTerminal else { return }
      let line = Self.progressText(progress, elapsed: Date().timeIntervalSince(start))
      FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
    }
    if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    let directory = URL(fileURLWithPath: out)
    let files = try EvaluationReport.write(result, to: directory)
    print(Self.summary(result))
    print("wrote \(files.joined(separator: ", ")) in \(directory.path)")
  }

  /// `runs 12/45 (3 cached), steps 41% 0:42 elapsed ETA 1:10`, the ETA from training steps
  /// (runs differ in length by the baselines' multiple).
  static func progressText(_ progress: RunProgress, elapsed: TimeInterval) -> String {
    let computed = progress.stepsDone - progress.cachedSteps
    let remaining =
      computed > 0
      ? elapsed / Double(computed) * Double(progress.steps - progress.stepsDone) : Double.nan
    let percent = progress.steps > 0 ? 100 * progress.stepsDone / progress.steps : 100
    return "runs \(progress.runsDone)/\(progress.runs) (\(progress.cachedRuns) cached), "
      + "steps \(percent)%  \(ProgressLine.duration(elapsed)) elapsed  "
      + "ETA \(remaining.isFinite ? ProgressLine.duration(remaining) : "-")"
  }

  /// One line per optimizer: the median and mean speedup over tuned Adam.
  static func summary(_ result: EvaluationResult) -> String {
    result.optimizers.map { optimizer in
      guard let s = result.aggregates[optimizer.name]?[Evaluation.headlineBaseline] else {
        return "\(optimizer.name): no tasks"
      }
      return "\(optimizer.name): speedup over tuned Adam median \(formatted(Float(s.median))), "
        + "mean \(formatted(Float(s.mean))), faster on \(Int((s.fractionFaster * 100).rounded()))% "
        + "of \(s.count) tasks"
    }.joined(separator: "\n") + "\nwall time \(ProgressLine.duration(result.wallSeconds))"
  }
}
