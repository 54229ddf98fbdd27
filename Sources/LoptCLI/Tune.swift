import ArgumentParser
import Foundation
import LoptCore
import LoptEval
import LoptOptimizers
import LoptTasks
import LoptTraining

/// `lopt tune`: a learning-rate sweep of one optimizer on one task, cached run by run.
struct Tune: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Find an optimizer's best learning rate on a task.",
    discussion: """
      Trains every learning rate of the grid (default: VeLO's 15 half decades 1e-7 … 1) with \
      every seed, in parallel on all cores, and ranks the rates by the seed-averaged training \
      loss smoothed with an EMA (α 0.95) at the last step. Every run's loss curve is cached, so \
      repeating or extending a sweep only trains what is new. Diverged runs (NaN or infinite \
      loss or gradient) are recorded as such. Writes OUTPUT.jsonl (one line per learning rate, \
      then the lower envelope over rates) and OUTPUT.svg (final loss against learning rate).
      """)

  @OptionGroup(title: "Task")
  var task: TaskOptions

  @OptionGroup(title: "Optimizer")
  var optimizer: OptimizerOptions

  @Option(help: "Training steps per run.")
  var steps: Int = 1000

  @Option(help: "Seeds per learning rate (0, 1, …).")
  var seeds: Int = 3

  @Option(help: "Learning rates to try, comma separated (default: VeLO's grid, 1e-7 … 1).")
  var grid: String?

  @Option(help: "The run cache folder (default: $XDG_CACHE_HOME/lopt or ~/.cache/lopt).")
  var cache: String?

  @Option(help: "Write OUTPUT.jsonl and OUTPUT.svg (default: tune-<optimizer>).")
  var output: String?

  /// The learning rates of the sweep.
  var learningRates: [Float] {
    get throws { try Self.learningRates(grid) }
  }

  /// The rates a `--grid` value lists (VeLO's grid when there is none).
  ///
  /// - Throws: ``ValidationError`` unless the value is positive numbers separated by commas.
  static func learningRates(_ grid: String?) throws -> [Float] {
    guard let grid else { return LearningRateSweep.veloGrid }
    let rates = grid.split(separator: ",").map {
      Float($0.trimmingCharacters(in: .whitespaces))
    }
    guard !rates.isEmpty, rates.allSatisfy({ $0.map { $0.isFinite && $0 > 0 } ?? false }) else {
      throw ValidationError(
        "--grid takes positive learning rates separated by commas, got '\(grid)'")
    }
    return rates.map { $0! }
  }

  func validate() throws {
    try FlagChecks.check(steps, in: 1...maximumTrainingSteps, flag: "--steps")
    try FlagChecks.check(seeds, in: 1...1000, flag: "--seeds")
    if let output { try FlagChecks.checkNotEmpty(output, flag: "--output") }
    _ = try learningRates
    if optimizer.lr != nil {
      throw ValidationError("--lr cannot be combined with tune: use --grid to choose the rates")
    }
  }

  /// The sweep this command runs.
  ///
  /// The task part of its cache key is every task option's value plus, for `--task` or
  /// `--spec`, the spec itself (so editing a spec file invalidates its runs).
  func makeSweep() throws -> LearningRateSweep {
    var description = "lopt-tune-v1 " + String(reflecting: task)
    if let spec = try task.chosenSpec() {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      description += " " + String(decoding: try encoder.encode(spec), as: UTF8.self)
    }
    return LearningRateSweep(
      task: description, optimizer: optimizer.settings, learningRates: try learningRates,
      seeds: (0..<seeds).map(UInt64.init), steps: steps)
  }

  func run() throws {
    BLAS.useSingleThread()
    let sweep = try makeSweep()
    let cache = try RunCache(
      directory: cache.map { URL(fileURLWithPath: $0) } ?? RunCache.defaultDirectory)
    print(
      "Tuning \(optimizer.settings) on \(try task.makeTask(key: RandomKey(seed: 0)).summary): "
        + "\(sweep.learningRates.count) learning rates × \(seeds) seeds × \(steps) steps, "
        + "cache \(cache.directory.path)")
    let records = try Self.run(sweep, task: task, optimizer: optimizer, cache: cache)
    let summary = SweepSummary(records: records)
    print(Self.table(summary))
    let prefix = output ?? "tune-\(optimizer.handDesigned.rawValue)"
    try AtomicFile.write(Self.jsonLines(summary), to: URL(fileURLWithPath: prefix + ".jsonl"))
    try AtomicFile.write(
      Self.plot(summary, title: "\(optimizer.settings), \(steps) steps").render(),
      to: URL(fileURLWithPath: prefix + ".svg"))
    print("wrote \(prefix).jsonl and \(prefix).svg")
  }

  /// Runs the sweep with a progress line; each run builds its own task and optimizer.
  static func run(
    _ sweep: LearningRateSweep, task: TaskOptions, optimizer: OptimizerOptions, cache: RunCache
  ) throws -> [RunRecord] {
    let start = Date()
    let isTerminal = isatty(STDERR_FILENO) == 1
    let cachedAtStart = sweep.keys.filter { cache.record(for: $0) != nil }.count
    let records = try sweep.run(cache: cache) { lr, seed, steps in
      let key = RandomKey(seed: seed)
      let prepared = try task.makeTask(key: key.folding(in: 1))
      let rule = try optimizer.makeOptimizer(learningRate: lr)
      return try train(prepared.task, optimizer: rule, steps: steps, key: key, logInterval: steps)
        .losses
    } progress: { done, total in
      guard isTerminal else { return }
      let line = progressText(
        done: done, total: total, cached: cachedAtStart, elapsed: Date().timeIntervalSince(start))
      FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
    }
    if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    return records
  }

  /// `runs 12/45 (3 cached)  0:42 elapsed  ETA 1:10`.
  static func progressText(done: Int, total: Int, cached: Int, elapsed: TimeInterval) -> String {
    let computed = done - cached
    let remaining =
      computed > 0 ? elapsed / Double(computed) * Double(total - done) : Double.nan
    return "runs \(done)/\(total) (\(cached) cached)  \(ProgressLine.duration(elapsed)) elapsed  "
      + "ETA \(remaining.isFinite ? ProgressLine.duration(remaining) : "-")"
  }

  /// One row per learning rate; `*` marks the best.
  static func table(_ summary: SweepSummary) -> String {
    let best = summary.best?.learningRate
    var lines = ["  learning rate   final loss (EMA)"]
    for point in summary.points {
      let loss =
        point.finalLoss.map(formatted)
        ?? "diverged (\(point.divergedSeeds.count) seed\(point.divergedSeeds.count == 1 ? "" : "s"))"
      let mark = point.learningRate == best ? "*" : " "
      lines.append(
        "\(mark) " + String(format: "%13.3g", Double(point.learningRate)) + "   " + loss)
    }
    lines.append(
      best.map { "best learning rate: \(String(format: "%.3g", Double($0)))" }
        ?? "every learning rate diverged")
    return lines.joined(separator: "\n")
  }

  /// One JSON object per learning rate, then `{"lower_envelope": […]}`.
  static func jsonLines(_ summary: SweepSummary) throws -> String {
    struct Row: Encodable {
      var learningRate: Float
      var finalLoss: Float?
      var divergedSeeds: [UInt64]
      var isBest: Bool

      enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate"
        case finalLoss = "final_loss"
        case divergedSeeds = "diverged_seeds"
        case isBest = "best"
      }
    }
    struct Envelope: Encodable {
      var lowerEnvelope: [Float]

      enum CodingKeys: String, CodingKey { case lowerEnvelope = "lower_envelope" }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let best = summary.best?.learningRate
    var lines = try summary.points.map { point in
      try encoder.encode(
        Row(
          learningRate: point.learningRate, finalLoss: point.finalLoss,
          divergedSeeds: point.divergedSeeds, isBest: point.learningRate == best))
    }
    lines.append(try encoder.encode(Envelope(lowerEnvelope: summary.lowerEnvelope)))
    return lines.map { String(decoding: $0, as: UTF8.self) + "\n" }.joined()
  }

  /// Final smoothed loss against learning rate (diverged rates leave a gap).
  static func plot(_ summary: SweepSummary, title: String) -> SVGPlot {
    SVGPlot(
      title: title, xLabel: "learning rate", yLabel: "final training loss (EMA 0.95)",
      series: [
        .init(
          name: "mean over seeds",
          points: summary.points.map { (Double($0.learningRate), Double($0.finalLoss ?? .nan)) },
          showsMarkers: true)
      ], isLogX: true)
  }
}
