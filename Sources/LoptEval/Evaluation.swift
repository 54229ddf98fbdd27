import Foundation
import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks
import LoptTraining

/// An optimizer in an evaluation: one whose learning rate is tuned on the grid (hand-designed
/// optimizers and the baselines), or one used as it is (a learned optimizer).
public struct EvaluatedOptimizer: Sendable {
  /// How the optimizer is made for a run.
  public enum Kind: Sendable {
    /// Swept over the evaluation's learning-rate grid; the closure makes it at a rate.
    case tuned(@Sendable (_ learningRate: Float) -> any Optimizer)
    /// Used with its own settings (one run per seed).
    case fixed(any Optimizer)
  }

  /// The label in reports (`adam`, `velo:run/velo.safetensors`).
  public var name: String
  /// Everything that determines the optimizer's runs except the learning rate (a cache key
  /// component: for a checkpoint, a fingerprint of the file).
  public var identity: String
  /// How runs get the optimizer.
  public var kind: Kind
  /// The compute spent meta-training it, when recorded (learned optimizers).
  public var metaTrainingCoreHours: Double?

  /// Creates an optimizer entry.
  public init(name: String, identity: String, kind: Kind, metaTrainingCoreHours: Double? = nil) {
    self.name = name
    self.identity = identity
    self.kind = kind
    self.metaTrainingCoreHours = metaTrainingCoreHours
  }

  /// Whether the learning rate is tuned.
  public var isTuned: Bool {
    if case .tuned = kind { return true }
    return false
  }
}

/// An evaluation (docs/evaluation-metric.md §1): every optimizer trained on every task of a suite,
/// against learning-rate-tuned baselines that train ``baselineMultiple`` times longer.
///
/// Per task of `T` steps: each tuned optimizer is swept over ``learningRates`` × seeds for `T`
/// steps and its best rate kept (lowest seed-averaged EMA loss at the last step); each fixed
/// optimizer runs once per seed; each baseline is swept for `multiple · T` steps and becomes a
/// ``SpeedupNormalizer``. An optimizer's speedup over a baseline is `A(L) / (T − 1)`, `L` its
/// seed-averaged EMA-smoothed loss at the last step — the same smoothing the baseline's
/// envelope gets, so tuned Adam scores ≈ 1 against its own envelope.
public struct Evaluation: Sendable {
  /// The tasks.
  public var suite: EvaluationSuite
  /// The optimizers under evaluation.
  public var optimizers: [EvaluatedOptimizer]
  /// The tuned baselines; the one named ``headlineBaseline`` gives the headline speedup.
  public var baselines: [EvaluatedOptimizer]
  /// Training steps of the evaluated optimizers, times each task's
  /// ``EvaluationSuite/Entry/stepMultiple``.
  public var steps: Int
  /// Seeds per run; seed `k` sets each spec's seed to the suite's `firstSeed + k`.
  public var seeds: Int
  /// The learning rates tuned optimizers and baselines are swept over.
  public var learningRates: [Float]
  /// The baselines train this many times the evaluated optimizers' steps (VeLO: 10).
  public var baselineMultiple: Int
  /// Where the tasks' data are.
  public var locator: DataLocator

  /// The baseline every speedup is headlined against.
  public static let headlineBaseline = "adam"

  /// The evaluated optimizer that stands for what people use in practice: tuned Adam with a
  /// warm-up and a cosine decay to zero over the run (see ``adamCosine``).
  ///
  /// When it is evaluated, every other optimizer also gets a speedup under this name: its
  /// speedup over tuned Adam divided by Adam + cosine's on the same task — above 1 exactly
  /// when it ends lower than tuned Adam + cosine does with the same budget.
  public static let scheduleReference = "adam-cosine"

  /// Adam with optax's defaults, its learning rate tuned: the headline baseline (`lopt eval`
  /// builds the same for `--baselines adam`, so the two share cached runs).
  public static var tunedAdam: EvaluatedOptimizer {
    EvaluatedOptimizer(
      name: headlineBaseline, identity: "adam schedule=constant",
      kind: .tuned { Adam(learningRate: $0) })
  }

  /// Tuned Adam with a linear warm-up over 5 % of the run and a cosine decay to zero at its end.
  public static var adamCosine: EvaluatedOptimizer {
    withCosineSchedule(name: scheduleReference, rule: "adam") { Adam(learningRate: $0) }
  }

  /// The hand-designed rule `rule` (made at a learning rate by `make`), tuned, with a linear
  /// warm-up over 5 % of the run and a cosine decay to zero at its end.
  public static func withCosineSchedule(
    name: String, rule: String,
    make: @escaping @Sendable (_ learningRate: Float) -> any LearningRateOptimizer
  ) -> EvaluatedOptimizer {
    @Sendable func scheduled(_ base: some LearningRateOptimizer) -> any Optimizer {
      ScheduledOptimizer(
        base, schedule: LearningRateSchedule(decay: .cosine, warmupFraction: 0.05))
    }
    return EvaluatedOptimizer(
      name: name, identity: "\(rule) schedule=cosine warmup-fraction=0.05",
      kind: .tuned { scheduled(make($0)) })
  }

  /// Creates an evaluation.
  ///
  /// - Precondition: `steps ≥ 2`, `seeds ≥ 1`, a non-empty grid, `baselineMultiple ≥ 1`, and
  ///   a baseline named ``headlineBaseline``.
  public init(
    suite: EvaluationSuite, optimizers: [EvaluatedOptimizer], baselines: [EvaluatedOptimizer],
    steps: Int, seeds: Int, learningRates: [Float] = LearningRateSweep.veloGrid,
    baselineMultiple: Int = 10, locator: DataLocator = DataLocator()
  ) {
    precondition(steps >= 2 && seeds >= 1, "an evaluation needs ≥ 2 steps and ≥ 1 seed")
    precondition(!learningRates.isEmpty && baselineMultiple >= 1, "bad grid or multiple")
    precondition(
      baselines.contains { $0.name == Self.headlineBaseline }, "tuned Adam must be a baseline")
    self.suite = suite
    self.optimizers = optimizers
    self.baselines = baselines
    self.steps = steps
    self.seeds = seeds
    self.learningRates = learningRates
    self.baselineMultiple = baselineMultiple
    self.locator = locator
  }

  /// The task part of the run keys of `entry`: a version tag, the spec with seed 0 and the
  /// fingerprint of its data files (so another `--data-dir` with other data misses the cache).
  private func taskText(_ entry: EvaluationSuite.Entry) -> String {
    var spec = entry.spec
    spec.seed = 0
    let json = (try? spec.json()).map { String(decoding: $0, as: UTF8.self) } ?? "\(spec)"
    return "lopt-eval-v2 " + json + " data: " + locator.fingerprint(of: spec.dataFiles)
  }

  /// The sweep of `optimizer` on `entry` for `steps` steps.
  private func sweep(
    _ optimizer: EvaluatedOptimizer, on entry: EvaluationSuite.Entry, steps: Int
  ) -> LearningRateSweep {
    LearningRateSweep(
      task: taskText(entry), optimizer: optimizer.identity,
      learningRates: optimizer.isTuned ? learningRates : [0],
      seeds: (0..<UInt64(seeds)).map { suite.firstSeed + $0 }, steps: steps)
  }

  /// Training steps of the evaluated optimizers on `entry`.
  private func steps(of entry: EvaluationSuite.Entry) -> Int { steps * entry.stepMultiple }

  /// Every run of the evaluation (some may be shared, for example by two names of one
  /// optimizer).
  public var keys: [RunKey] {
    suite.tasks.flatMap { entry in
      optimizers.flatMap { sweep($0, on: entry, steps: steps(of: entry)).keys }
        + baselines.flatMap {
          sweep($0, on: entry, steps: steps(of: entry) * baselineMultiple).keys
        }
    }
  }

  /// Runs what is not in `cache` and computes every task's results and the aggregates.
  ///
  /// Each task is built once first, so missing data or a bad spec fails before any training.
  ///
  /// - Parameters:
  ///   - cache: finished runs (an interrupted evaluation resumes from it); `nil`: none.
  ///   - threads: runs at a time.
  ///   - progress: called before the first run and after each run, serially.
  /// - Returns: the results, with this call's wall time.
  /// - Throws: `TaskSpecError` for a task that cannot be built, or the first
  ///   error other than a divergence that a run or the cache threw.
  public func run(
    cache: RunCache?, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
    progress: @Sendable (RunProgress) -> Void = { _ in }
  ) throws -> EvaluationResult {
    let locator = self.locator
    return try run(
      cache: cache, threads: threads, progress: progress,
      train: { key, spec, optimizer in
        let task = try spec.makeTask(locator: locator)
        let result = try LoptTraining.train(
          task, optimizer: optimizer, steps: key.steps, key: spec.initializationKey,
          logInterval: key.steps)
        let accuracy = task.evaluation(
          result.parameters, split: .test, batches: Self.accuracyBatches
        ).accuracy
        return RunOutcome(losses: result.losses, accuracy: accuracy)
      })
  }

  /// Test batches a run's final accuracy is measured on (classifiers).
  static let accuracyBatches = 10

  /// ``run(cache:threads:progress:)`` with the training of one run replaced by `train`, which
  /// gets the run's key, its task spec (seed set) and its optimizer and returns the loss of
  /// every step (and the final accuracy), throwing `TrainingError` for a divergence (tests
  /// feed known curves here).
  func run(
    cache: RunCache?, threads: Int, progress: @Sendable (RunProgress) -> Void,
    train: @escaping @Sendable (RunKey, TaskSpec, any Optimizer) throws -> RunOutcome
  ) throws -> EvaluationResult {
    let start = Date()
    var specs: [String: TaskSpec] = [:]
    var parameterCounts: [String: Int] = [:]
    for entry in suite.tasks {
      specs[taskText(entry)] = entry.spec
      var spec = entry.spec
      spec.seed = suite.firstSeed
      parameterCounts[entry.name] = try spec.makeTask(locator: locator).layout.totalCount
    }
    let taskSpecs = specs
    let kinds = Dictionary(
      (optimizers + baselines).map { ($0.identity, $0.kind) }, uniquingKeysWith: { a, _ in a })
    let records = try LearningRateSweep.run(
      keys, cache: cache, threads: threads,
      train: { key in
        var spec = taskSpecs[key.task]!
        spec.seed = key.seed
        let optimizer: any Optimizer
        switch kinds[key.optimizer]! {
        case .tuned(let make): optimizer = make(key.learningRate)
        case .fixed(let fixed): optimizer = fixed
        }
        return try train(key, spec, optimizer)
      }, progress: progress)
    let byKey = Dictionary(records.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    let tasks = suite.tasks.map { entry in
      taskResult(entry, parameterCount: parameterCounts[entry.name] ?? 0) { sweep in
        SweepSummary(records: sweep.keys.map { byKey[$0]! })
      }
    }
    return EvaluationResult(
      suite: suite.name, steps: steps, seeds: seeds, learningRates: learningRates,
      baselineMultiple: baselineMultiple, baselines: baselines.map(\.name),
      optimizers: optimizers.map {
        .init(name: $0.name, isTuned: $0.isTuned, metaTrainingCoreHours: $0.metaTrainingCoreHours)
      },
      tasks: tasks, wallSeconds: Date().timeIntervalSince(start),
      trainingSeconds: Set(records.map(\.key)).reduce(0) { $0 + byKey[$1]!.seconds })
  }

  /// One task's results from the summaries of its sweeps.
  private func taskResult(
    _ entry: EvaluationSuite.Entry, parameterCount: Int,
    summary: (LearningRateSweep) -> SweepSummary
  ) -> EvaluationResult.Task {
    let steps = steps(of: entry)
    var normalizers: [String: SpeedupNormalizer] = [:]
    var baselineResults: [EvaluationResult.Baseline] = []
    var adamAtBudget: Float?
    for baseline in baselines {
      let swept = summary(sweep(baseline, on: entry, steps: steps * baselineMultiple))
      let normalizer = SpeedupNormalizer(summary: swept)
      normalizers[baseline.name] = normalizer
      let envelope = swept.lowerEnvelope
      let atBudget = envelope.count >= steps ? envelope[steps - 1] : nil
      if baseline.name == Self.headlineBaseline { adamAtBudget = atBudget }
      baselineResults.append(
        .init(
          name: baseline.name, learningRate: swept.best?.learningRate, lossAtBudget: atBudget,
          finalLoss: swept.best?.finalLoss, envelopeSteps: normalizer?.steps ?? [],
          envelope: normalizer?.losses ?? [], accuracy: swept.best?.accuracy))
    }
    var results = optimizers.map { optimizer in
      let swept = summary(sweep(optimizer, on: entry, steps: steps))
      // A tuned optimizer's best rate; a fixed optimizer's only point.
      let best = optimizer.isTuned ? swept.best : swept.points.first
      let finalLoss = best?.finalLoss
      let speedups = normalizers.mapValues { normalizer in
        finalLoss.map { normalizer.speedup(finalLoss: $0, lastStep: steps - 1) } ?? 0
      }
      return EvaluationResult.OptimizerRun(
        name: optimizer.name, learningRate: optimizer.isTuned ? best?.learningRate : nil,
        finalLoss: finalLoss,
        lossRatio: finalLoss.flatMap { loss in adamAtBudget.map { Double(loss / $0) } },
        divergedSeeds: best?.divergedSeeds ?? [],
        speedups: speedups, curve: best?.smoothedLosses ?? [], accuracy: best?.accuracy)
    }
    if let reference = results.first(where: { $0.name == Self.scheduleReference })?
      .speedups[Self.headlineBaseline], reference > 0
    {
      for index in results.indices where results[index].name != Self.scheduleReference {
        results[index].speedups[Self.scheduleReference] =
          results[index].speedups[Self.headlineBaseline].map { $0 / reference }
      }
    }
    return .init(
      name: entry.name, spec: entry.spec, parameterCount: parameterCount, steps: steps,
      baselineSteps: steps * baselineMultiple, optimizers: results, baselines: baselineResults)
  }
}
