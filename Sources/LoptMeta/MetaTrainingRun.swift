import Foundation
import LoptCore
import LoptEval
import LoptLearned
import LoptOptimizers
import LoptTasks
import Synchronization

/// One evaluation of θ on the configuration's fixed tasks.
public struct EvaluationRecord: Codable, Equatable, Sendable {
  /// Always `"evaluation"` (metrics lines are told apart by this key).
  public var kind = "evaluation"
  /// The outer step θ was taken at.
  public var step: Int
  /// The mean over tasks and seeds of the final normalised loss (`nil`: every run diverged).
  public var meanLoss: Float?
  /// The same for Adam at learning rate 1e-3 on the same tasks and seeds.
  public var adamMeanLoss: Float?
  /// Per task (in configuration order), the final normalised loss averaged over seeds (`nil`
  /// when every seed diverged).
  public var taskLosses: [Float?]
  /// Runs that diverged.
  public var divergedRuns: Int
  /// θ's speedups over tuned Adam on `evaluation.suite` (when one is set).
  public var speedups: SpeedupStatistics?
}

/// What a caller sees of a running meta-training run.
public struct MetaTrainingObserver: Sendable {
  /// Called after every outer step.
  public var didStep: @Sendable (OuterStepRecord) -> Void
  /// Called after every evaluation.
  public var didEvaluate: @Sendable (EvaluationRecord) -> Void
  /// Warnings (a skipped damaged checkpoint).
  public var warn: @Sendable (String) -> Void

  /// Creates an observer; by default it ignores everything.
  public init(
    didStep: @escaping @Sendable (OuterStepRecord) -> Void = { _ in },
    didEvaluate: @escaping @Sendable (EvaluationRecord) -> Void = { _ in },
    warn: @escaping @Sendable (String) -> Void = { _ in }
  ) {
    self.didStep = didStep
    self.didEvaluate = didEvaluate
    self.warn = warn
  }
}

/// How a run ended.
public struct MetaTrainingSummary: Sendable {
  /// Outer steps done.
  public var steps: Int
  /// The final θ.
  public var theta: ParameterSet
  /// The last evaluation, if any.
  public var lastEvaluation: EvaluationRecord?
  /// Core-seconds spent, resumed parts included.
  public var coreSeconds: Double
  /// Whether the run stopped early on request (SIGINT/SIGTERM).
  public var wasInterrupted: Bool
}

/// Meta-trains the learned optimizer a configuration names, writing into `directory`.
///
/// Only rank 0 of `exchange` writes files and reports to `observer`. A stop request
/// (``MetaTrainingStop``) on any process ends the run on all of them after the current outer
/// step, with a checkpoint.
///
/// - Parameters:
///   - configuration: the run's settings.
///   - directory: where the run's files go.
///   - resume: continue from the newest intact checkpoint in `directory` instead of starting.
///   - exchange: how this process shares lane results with the others.
///   - observer: receives progress (on rank 0).
/// - Returns: the final θ, the steps done and the compute spent.
/// - Throws: ``MetaTrainingError``, `TaskSpecError` for bad tasks, `CheckpointError` for
///   a bad initial checkpoint, `AtomicFileError` when a file cannot be written.
public func metaTrain(
  _ configuration: MetaTrainingConfiguration, directory: RunDirectory, resume: Bool,
  exchange: any LaneExchange = LocalExchange(), observer: MetaTrainingObserver = .init()
) throws -> MetaTrainingSummary {
  try configuration.validate()
  try exchange.checkProcessCount(for: configuration)
  struct Run: LearnedOptimizerOperation {
    typealias Result = MetaTrainingSummary
    typealias Failure = any Error
    let configuration: MetaTrainingConfiguration
    let directory: RunDirectory
    let resume: Bool
    let exchange: any LaneExchange
    let observer: MetaTrainingObserver

    func callAsFunction<O: LearnedOptimizer>(_: O.Type, _ architecture: O.Configuration) throws
      -> MetaTrainingSummary
    {
      try MetaTrainingRun<O>(
        configuration, architecture: architecture, directory: directory, exchange: exchange,
        observer: observer
      ).run(resume: resume)
    }
  }
  return try configuration.learnedOptimizer.configuration.apply(
    Run(
      configuration: configuration, directory: directory, resume: resume, exchange: exchange,
      observer: observer))
}

/// Stop requests for running meta-training (set from a signal handler).
public enum MetaTrainingStop {
  private static let requested = Atomic<Bool>(false)

  /// Asks running meta-training to checkpoint and return after the current outer step.
  public static func request() { requested.store(true, ordering: .relaxed) }

  /// Whether a stop was requested.
  public static var isRequested: Bool { requested.load(ordering: .relaxed) }
}

/// A run of one learned-optimizer kind.
struct MetaTrainingRun<Optimizer: LearnedOptimizer> {
  let configuration: MetaTrainingConfiguration
  let architecture: Optimizer.Configuration
  let directory: RunDirectory
  let exchange: any LaneExchange
  let observer: MetaTrainingObserver
  let problem: LearnedOptimizerProblem<Optimizer>
  let trainer: MetaTrainer<LearnedOptimizerProblem<Optimizer>>
  let evaluationTasks: [TaskSpec]
  let speedupSuite: EvaluationSuite?

  init(
    _ configuration: MetaTrainingConfiguration, architecture: Optimizer.Configuration,
    directory: RunDirectory, exchange: any LaneExchange, observer: MetaTrainingObserver
  ) throws {
    self.configuration = configuration
    self.architecture = architecture
    self.directory = directory
    self.exchange = exchange
    self.observer = observer
    let source = try configuration.taskSource()
    problem = LearnedOptimizerProblem(configuration: architecture, source: source)
    let randomness = MetaRandomness(seed: configuration.seed)
    var theta = Optimizer.initialMetaParameters(
      for: architecture, key: randomness.key.folding(in: 0))
    if let path = configuration.learnedOptimizer.initialCheckpoint {
      let checkpoint = try Checkpoint.load(
        URL(fileURLWithPath: path), configuration: configuration.learnedOptimizer.configuration)
      theta = ParameterSet(layout: theta.layout, flat: checkpoint.metaParameters.flat)
    }
    trainer = MetaTrainer(
      estimator: try GradientEstimator(
        problem: problem, settings: configuration.estimator, truncation: configuration.truncation,
        randomness: randomness),
      outer: configuration.outer, families: configuration.families, theta: theta,
      exchange: exchange, pool: WorkerPool(threads: configuration.threads))
    speedupSuite = try configuration.evaluation.suite.map { try EvaluationSuite.load($0) }
    if !configuration.evaluation.tasks.isEmpty {
      evaluationTasks = try configuration.evaluation.tasks.map { try $0.resolved() }
    } else if case .tasks(let specs) = source {
      evaluationTasks = specs
    } else {
      evaluationTasks = []
    }
    // Build every listed task once, so missing data or a bad spec stops the run here with a
    // clear error instead of inside a lane.
    var listed = evaluationTasks
    if case .tasks(let specs) = source { listed += specs }
    for spec in listed { _ = try spec.makeTask() }
  }

  private var isWriter: Bool { exchange.rank == 0 }

  func run(resume: Bool) throws -> MetaTrainingSummary {
    try checkAgreement()
    let hash = configuration.trajectoryHash
    var coreSeconds = 0.0
    let writer: MetricsLines?
    if resume && directory.checkpointSteps().isEmpty {
      throw MetaTrainingError.nothingToResume(directory.url.path)
    }
    let lock = isWriter ? try directory.lock() : nil
    defer { withExtendedLifetime(lock) {} }
    if isWriter { AtomicFile.removeStaleTemporaryFiles(in: directory.url, olderThan: 0) }
    if resume {
      let template = RunCheckpoint(
        theta: trainer.theta, outer: trainer.outer, step: 0, coreSeconds: 0,
        configurationHash: hash)
      guard
        let checkpoint = directory.latestCheckpoint(
          like: template, warn: isWriter ? observer.warn : { _ in })
      else { throw MetaTrainingError.nothingToResume(directory.url.path) }
      trainer.restore(theta: checkpoint.theta, outer: checkpoint.outer, step: checkpoint.step)
      coreSeconds = checkpoint.coreSeconds
      if isWriter { try directory.truncateMetrics(after: checkpoint.step) }
      writer = isWriter ? try MetricsLines(url: directory.metricsURL, appending: true) : nil
    } else {
      if !directory.checkpointSteps().isEmpty {
        throw MetaTrainingError.configurationMismatch(
          "\(directory.url.path) already holds a meta-training run; pass --resume to continue "
            + "it or choose another --out")
      }
      if isWriter {
        try AtomicFile.write(configuration.json() + "\n", to: directory.configurationURL)
      }
      writer = isWriter ? try MetricsLines(url: directory.metricsURL, appending: false) : nil
    }
    let outerSteps = configuration.outer.steps
    let processes = Double(trainer.pool.threads * exchange.size)
    var lastCheckpoint = Date()
    var lastEvaluation: EvaluationRecord?
    let selection = configuration.evaluation.selection ?? .median
    var bestSpeedup = resume ? directory.bestSpeedup(by: selection) : nil
    var interrupted = false
    func checkpoint() throws {
      guard isWriter else { return }
      try directory.writeCheckpoint(
        RunCheckpoint(
          theta: trainer.theta, outer: trainer.outer, step: trainer.step,
          coreSeconds: coreSeconds, configurationHash: hash),
        optimizer: try optimizerCheckpoint())
      lastCheckpoint = Date()
    }
    func optimizerCheckpoint() throws -> Checkpoint {
      guard trainer.theta.isFinite else {
        throw MetaTrainingError.nonFiniteMetaParameters(step: trainer.step)
      }
      return try Checkpoint(
        configuration: configuration.learnedOptimizer.configuration,
        metaParameters: trainer.theta, metaTrainingStep: trainer.step,
        metaTrainingCoreHours: coreSeconds / 3600)
    }
    func evaluate() throws {
      guard !evaluationTasks.isEmpty else { return }
      var record = try evaluation(at: trainer.step)
      if isWriter, let suite = speedupSuite {
        record.speedups = try speedups(on: suite)
        if let value = record.speedups.flatMap(selection.value), value > (bestSpeedup ?? -1) {
          bestSpeedup = value
          try optimizerCheckpoint().write(to: directory.bestOptimizerURL, format: .safetensors)
        }
      }
      lastEvaluation = record
      try writer?.write(record)
      if isWriter { observer.didEvaluate(record) }
    }
    if !resume { try evaluate() }
    while trainer.step < outerSteps {
      if try exchange.anyRequests(MetaTrainingStop.isRequested) {
        interrupted = true
        break
      }
      let record = try trainer.runStep()
      coreSeconds += record.seconds * processes
      try writer?.write(record)
      if isWriter { observer.didStep(record) }
      let every = configuration.evaluation.every
      if every > 0, trainer.step % every == 0, trainer.step < outerSteps { try evaluate() }
      if Date().timeIntervalSince(lastCheckpoint) >= configuration.checkpointSeconds {
        try checkpoint()
      }
    }
    if !interrupted, lastEvaluation?.step != trainer.step { try evaluate() }
    try checkpoint()
    return MetaTrainingSummary(
      steps: trainer.step, theta: trainer.theta, lastEvaluation: lastEvaluation,
      coreSeconds: coreSeconds, wasInterrupted: interrupted)
  }

  /// Checks that every process runs the same configuration.
  private func checkAgreement() throws {
    let hash = configuration.hash
    let halves = [Double(hash >> 32), Double(hash & 0xffff_ffff)]
    let all = try exchange.allGather(halves)
    guard all.count == 2 * exchange.size,
      stride(from: 0, to: all.count, by: 2).allSatisfy({
        all[$0] == halves[0] && all[$0 + 1] == halves[1]
      })
    else {
      throw MetaTrainingError.configurationMismatch(
        "the processes of this run were started with different configurations (hash mismatch); "
          + "start every rank with the same file and options")
    }
  }

  /// The first task seed of the periodic evaluations: every evaluation trains the same tasks
  /// from the same seeds (`evaluationSeedBase` + 0, 1, …), so their losses compare across outer
  /// steps, and no episode of meta-training draws them (episodes take seeds from the run's key).
  static var evaluationSeedBase: UInt64 { 1_000_000 }

  /// Trains every evaluation task and seed with θ and with Adam (1e-3) as LoptEval's
  /// `FinalLossRun`s: the task-seed jobs are split over processes (`exchange.lanes(of:)`), and
  /// each process's runs over its threads.
  private func evaluation(at step: Int) throws -> EvaluationRecord {
    let settings = configuration.evaluation
    let jobs = evaluationTasks.count * settings.seeds
    let rule = try problem.rule(for: trainer.theta)
    // Per job of this process: θ's run, then Adam's.
    let runs = exchange.lanes(of: jobs).flatMap { job in
      var spec = evaluationTasks[job / settings.seeds]
      spec.seed = Self.evaluationSeedBase + UInt64(job % settings.seeds)
      return [
        FinalLossRun(spec: spec, optimizer: rule, steps: settings.steps),
        FinalLossRun(spec: spec, optimizer: Adam(learningRate: 1e-3), steps: settings.steps),
      ]
    }
    let results = FinalLossRun.finalLosses(
      of: runs, batches: configuration.estimator.recomputeBatches, threads: trainer.pool.threads,
      locator: problem.locator
    ).map(Double.init)
    let losses = try exchange.gather(
      values: stride(from: 0, to: results.count, by: 2).map { results[$0] }, jobCount: jobs)
    let adam = try exchange.gather(
      values: stride(from: 1, to: results.count, by: 2).map { results[$0] }, jobCount: jobs)
    func mean(_ values: [Double]) -> Float? {
      let finite = values.filter(\.isFinite)
      return finite.isEmpty ? nil : Float(finite.reduce(0, +) / Double(finite.count))
    }
    let perTask = (0..<evaluationTasks.count).map { task in
      mean(Array(losses[(task * settings.seeds)..<((task + 1) * settings.seeds)]))
    }
    return EvaluationRecord(
      step: step, meanLoss: mean(losses), adamMeanLoss: mean(adam), taskLosses: perTask,
      divergedRuns: losses.filter { !$0.isFinite }.count)
  }

  /// θ's speedups over learning-rate-tuned Adam on `suite` (VeLO's metric, LoptEval), with
  /// every run cached (by default in the user's run cache), so Adam's sweeps are trained once.
  private func speedups(on suite: EvaluationSuite) throws -> SpeedupStatistics? {
    let rule = try problem.rule(for: trainer.theta)
    let fingerprint = trainer.theta.flat.scalars.reduce(UInt64(0xcbf2_9ce4_8422_2325)) {
      ($0 ^ UInt64($1.bitPattern)) &* 0x100_0000_01b3
    }
    let theta = EvaluatedOptimizer(
      name: "theta",
      identity:
        "meta-training θ r\(configuration.learnedOptimizer.kind.ruleRevision) "
        + String(fingerprint, radix: 16),
      kind: .fixed(rule))
    let evaluation = Evaluation(
      suite: suite, optimizers: [theta], baselines: [Evaluation.tunedAdam],
      steps: suite.steps ?? 1000,
      seeds: suite.seeds ?? 3,
      learningRates: configuration.evaluation.grid ?? LearningRateSweep.veloGrid)
    let result = try evaluation.run(
      cache: try RunCache(
        directory: configuration.evaluation.cache.map { URL(fileURLWithPath: $0) }
          ?? RunCache.defaultDirectory),
      threads: trainer.pool.threads)
    return result.aggregates[theta.name]?[Evaluation.headlineBaseline]
  }
}

/// `metrics.jsonl`: one JSON object per line, flushed as written.
final class MetricsLines {
  private let handle: FileHandle
  private let encoder = JSONEncoder()

  init(url: URL, appending: Bool) throws {
    if !appending || !FileManager.default.fileExists(atPath: url.path) {
      guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
        throw MetaTrainingError.cannotWrite(url.path)
      }
    }
    handle = try FileHandle(forWritingTo: url)
    try handle.seekToEnd()
    encoder.outputFormatting = [.sortedKeys]
  }

  deinit { try? handle.close() }

  func write(_ record: some Encodable) throws {
    var line = try encoder.encode(record)
    line.append(UInt8(ascii: "\n"))
    try handle.write(contentsOf: line)
  }
}
