import Foundation
import LoptCore
import LoptEval
import LoptLearned
import LoptOptimizers
import LoptTasks
import LoptTraining

/// Everything a meta-training run needs, as read from its YAML file.
///
/// Every field has a default (``init()``); a file names only what it changes, and unknown keys
/// are errors. Keys are the property names below (camelCase), nested by section.
public struct MetaTrainingConfiguration: Codable, Equatable, Sendable {
  /// The learned optimizer to meta-train.
  public struct LearnedOptimizerSection: Codable, Equatable, Sendable {
    /// Which kind.
    public var kind: LearnedOptimizerKind
    /// AdafacMLP's architecture (used when `kind` is `adafac_mlp`).
    public var adafacMLP: AdafacMLP.Configuration
    /// MLPLOpt's architecture (used when `kind` is `mlp_lopt`).
    public var mlpLOpt: MLPLOpt.Configuration
    /// VeLO's architecture (used when `kind` is `velo`); small sizes by default.
    public var velo: VeLO.Configuration
    /// ScheduledAdamLOpt's architecture (used when `kind` is `scheduled_adam`).
    public var scheduledAdam: ScheduledAdamLOpt.Configuration
    /// A checkpoint to start θ from instead of the reference initialisation.
    public var initialCheckpoint: String?

    /// Creates the section; the default is a reference-sized AdafacMLP.
    public init(
      kind: LearnedOptimizerKind = .adafacMLP, adafacMLP: AdafacMLP.Configuration = .init(),
      mlpLOpt: MLPLOpt.Configuration = .init(),
      velo: VeLO.Configuration = .init(lstmHiddenSize: 32, paramInits: 8),
      scheduledAdam: ScheduledAdamLOpt.Configuration = .init(), initialCheckpoint: String? = nil
    ) {
      self.kind = kind
      self.adafacMLP = adafacMLP
      self.mlpLOpt = mlpLOpt
      self.velo = velo
      self.scheduledAdam = scheduledAdam
      self.initialCheckpoint = initialCheckpoint
    }

    /// The configuration of the chosen kind.
    public var configuration: LearnedOptimizerConfiguration {
      switch kind {
      case .adafacMLP: .adafacMLP(adafacMLP)
      case .mlpLOpt: .mlpLOpt(mlpLOpt)
      case .velo: .velo(velo)
      case .scheduledAdam: .scheduledAdam(scheduledAdam)
      }
    }
  }

  /// One task of a list: a named task or a full spec, optionally with augmentations.
  public struct TaskEntry: Codable, Equatable, Sendable {
    /// A name from `lopt tasks list`.
    public var task: String?
    /// A full task spec (instead of `task`).
    public var spec: TaskSpec?
    /// Augmentations replacing the task's own.
    public var augmentation: AugmentationSpec?

    /// Creates an entry.
    public init(task: String? = nil, spec: TaskSpec? = nil, augmentation: AugmentationSpec? = nil) {
      self.task = task
      self.spec = spec
      self.augmentation = augmentation
    }

    /// The spec the entry names.
    ///
    /// - Throws: `TaskSpecError` for an unknown name, or when both or neither of `task` and
    ///   `spec` are given.
    public func resolved() throws -> TaskSpec {
      var result: TaskSpec
      switch (task, spec) {
      case (let name?, nil): result = try TaskSpec(named: name)
      case (nil, let spec?): result = spec
      default:
        throw TaskSpecError.malformed("a task entry needs exactly one of 'task' and 'spec'")
      }
      if let augmentation { result.augmentation = augmentation }
      try result.validate()
      return result
    }
  }

  /// The inner tasks.
  public struct TasksSection: Codable, Equatable, Sendable {
    /// A built-in distribution (`phase-one`, the default, or `phase-two`); exclusive with
    /// `list`.
    public var distribution: String?
    /// A list of tasks; exclusive with `distribution`.
    public var list: [TaskEntry]?

    /// Creates the section; with neither field the tasks come from `phase-one`.
    public init(distribution: String? = nil, list: [TaskEntry]? = nil) {
      self.distribution = distribution
      self.list = list
    }

    /// The distribution used when there is no list.
    public var resolvedDistribution: String { distribution ?? "phase-one" }
  }

  /// Periodic evaluation of θ on fixed tasks.
  public struct EvaluationSection: Codable, Equatable, Sendable {
    /// Evaluate every this many outer steps (0: only at the end).
    public var every: Int
    /// The tasks (fixed seeds 0..<seeds).
    public var tasks: [TaskEntry]
    /// Inner steps per evaluation run.
    public var steps: Int
    /// Seeds per task.
    public var seeds: Int
    /// A suite (built-in name or YAML file) on which each evaluation also measures θ's
    /// speedup over learning-rate-tuned Adam (LoptEval, with its run cache); the run keeps θ
    /// at the best median speedup as `best.safetensors`.
    public var suite: String?
    /// The learning rates tuned Adam is swept over for `suite` (default VeLO's grid).
    public var grid: [Float]?
    /// The run cache for `suite`'s runs (default the user's, shared with `lopt eval`).
    public var cache: String?
    /// The statistic of `suite`'s speedups that picks `best.safetensors` (`nil`: the median).
    public var selection: SelectionStatistic?

    /// The aggregate of per-task speedups that ranks evaluations.
    public enum SelectionStatistic: String, Codable, Equatable, Sendable, CaseIterable {
      /// The median: robust, but blind to the tasks on either side of it.
      case median
      /// The interquartile mean.
      case iqm
      /// The geometric mean (speedups floored at 0.01): any task that gets slower lowers it.
      case geometricMean = "geometric-mean"

      /// This statistic of `speedups`.
      public func value(of speedups: SpeedupStatistics) -> Double? {
        switch self {
        case .median: speedups.median
        case .iqm: speedups.interquartileMean
        case .geometricMean: speedups.geometricMean
        }
      }
    }

    /// Creates the section.
    public init(
      every: Int = 100, tasks: [TaskEntry] = [], steps: Int = 500, seeds: Int = 2,
      suite: String? = nil, grid: [Float]? = nil, cache: String? = nil,
      selection: SelectionStatistic? = nil
    ) {
      self.selection = selection
      self.every = every
      self.tasks = tasks
      self.steps = steps
      self.seeds = seeds
      self.suite = suite
      self.grid = grid
      self.cache = cache
    }
  }

  /// The learned optimizer.
  public var learnedOptimizer: LearnedOptimizerSection
  /// The inner tasks.
  public var tasks: TasksSection
  /// Family slots and resampling.
  public var families: FamilySettings
  /// The gradient estimator.
  public var estimator: EstimatorSettings
  /// Episode lengths.
  public var truncation: TruncationSchedule
  /// The outer optimizer and run length.
  public var outer: OuterSettings
  /// Periodic evaluation.
  public var evaluation: EvaluationSection
  /// The run's seed: θ's initialisation and every random draw.
  public var seed: UInt64
  /// Worker threads per process (0: one per core).
  public var threads: Int
  /// Seconds between checkpoints (one is also written at the end).
  public var checkpointSeconds: Double

  /// The defaults.
  public init() {
    learnedOptimizer = LearnedOptimizerSection()
    tasks = TasksSection()
    families = FamilySettings()
    estimator = EstimatorSettings()
    truncation = TruncationSchedule()
    outer = OuterSettings()
    evaluation = EvaluationSection()
    seed = 0
    threads = 0
    checkpointSeconds = 60
  }

  /// Reads a configuration from YAML.
  ///
  /// - Throws: `TaskSpecError` naming the field at fault, or ``MetaTrainingError`` listing
  ///   every invalid setting.
  public init(yaml: String) throws {
    self = try StrictYAML.decode(Self.self, from: yaml, defaults: Self())
    try validate()
  }

  /// The problems with the configuration; empty when usable.
  public var problems: [String] {
    var problems = estimator.problems + truncation.problems + outer.problems + families.problems
    do {
      try learnedOptimizer.configuration.validate()
    } catch {
      problems.append("learnedOptimizer: \(error)")
    }
    switch (tasks.distribution, tasks.list) {
    case (_, nil):
      let name = tasks.resolvedDistribution
      if TaskDistribution.builtIn[name] == nil {
        problems.append(
          "tasks.distribution '\(name)' is not one of "
            + TaskDistribution.builtIn.keys.sorted().joined(separator: ", "))
      }
    case (nil, let list?):
      if list.isEmpty { problems.append("tasks.list is empty") }
    default:
      problems.append("tasks takes one of 'distribution' and 'list', not both")
    }
    if evaluation.every < 0 || evaluation.steps < 1 || evaluation.seeds < 1 {
      problems.append("evaluation needs every ≥ 0, steps ≥ 1 and seeds ≥ 1")
    }
    if let grid = evaluation.grid, grid.isEmpty || !grid.allSatisfy({ $0.isFinite && $0 > 0 }) {
      problems.append("evaluation.grid needs positive learning rates (got \(grid))")
    }
    if threads < 0 { problems.append("threads must be ≥ 0 (got \(threads))") }
    problems += sizeProblems
    if !(checkpointSeconds > 0) {
      problems.append("checkpointSeconds must be > 0 (got \(checkpointSeconds))")
    }
    return problems
  }

  /// Upper bounds on every count and length, so that a hostile or mistyped size fails here
  /// instead of overflowing or allocating without bound.
  private var sizeProblems: [String] {
    let steps = maximumTrainingSteps
    let limits: [(String, Int, Int)] = [
      ("estimator.pairs", estimator.pairs, 4096),
      ("estimator.recomputeBatches", estimator.recomputeBatches, 10_000),
      ("estimator.unrollLength", estimator.unrollLength, steps),
      ("truncation.length", truncation.length, steps),
      ("truncation.maximum", truncation.maximum, steps),
      ("truncation.rampSteps", truncation.rampSteps, steps),
      ("families.slots", families.slots, 4096),
      ("outer.steps", outer.steps, steps),
      ("outer.accumulation", outer.accumulation, 10_000),
      ("outer.schedule.warmupSteps", outer.schedule.warmupSteps, steps),
      ("evaluation.every", evaluation.every, steps),
      ("evaluation.steps", evaluation.steps, steps),
      ("evaluation.seeds", evaluation.seeds, 1000),
      ("threads", threads, 1024),
    ]
    return limits.filter { $0.1 > $0.2 }.map { "\($0.0) must be ≤ \($0.2) (got \($0.1))" }
  }

  /// Throws when ``problems`` is not empty.
  ///
  /// - Throws: ``MetaTrainingError/invalidConfiguration(_:)``.
  public func validate() throws {
    let problems = problems
    if !problems.isEmpty { throw MetaTrainingError.invalidConfiguration(problems) }
  }

  /// The task source the configuration names.
  ///
  /// - Throws: `TaskSpecError` for a bad task entry.
  public func taskSource() throws -> TaskSource {
    if let list = tasks.list { return .tasks(try list.map { try $0.resolved() }) }
    return .distribution(TaskDistribution.builtIn[tasks.resolvedDistribution]!, .default)
  }

  /// The configuration as YAML-compatible JSON with sorted keys (what a run directory keeps).
  public func json() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
  }

  /// A stable 64-bit hash (FNV-1a) of ``json()``, to check that processes agree.
  public var hash: UInt64 {
    json().utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
  }

  /// The hash of the settings that determine θ's trajectory: everything but `outer.steps`
  /// (when the outer learning rate is constant), `threads`, `checkpointSeconds` and
  /// `evaluation`, which a resumed run may change.
  public var trajectoryHash: UInt64 {
    var trajectory = self
    if outer.schedule.decay == .constant { trajectory.outer.steps = 0 }
    trajectory.threads = 0
    trajectory.checkpointSeconds = 1
    trajectory.evaluation = EvaluationSection()
    return trajectory.hash
  }
}

/// Why meta-training cannot start or continue.
public enum MetaTrainingError: Error, CustomStringConvertible, Equatable {
  /// The configuration has invalid settings (each listed).
  case invalidConfiguration([String])
  /// The run directory holds no usable checkpoint to resume from.
  case nothingToResume(String)
  /// The run directory belongs to a run with another configuration.
  case configurationMismatch(String)
  /// A file of the run directory cannot be created.
  case cannotWrite(String)
  /// Another process (its id in `holder`, when known) is writing to the run directory.
  case runDirectoryBusy(String, holder: String)
  /// θ stopped being finite, so it is not published.
  case nonFiniteMetaParameters(step: Int)

  /// What happened and what to do.
  public var description: String {
    switch self {
    case .invalidConfiguration(let problems):
      "invalid meta-training configuration:\n"
        + problems.map { "  - \($0)" }.joined(separator: "\n")
    case .nothingToResume(let directory):
      "nothing to resume in \(directory): no readable checkpoint; start without --resume"
    case .configurationMismatch(let reason):
      reason
    case .cannotWrite(let path):
      "cannot create \(path): check the --out directory is writable"
    case .runDirectoryBusy(let directory, let holder):
      "\(directory) is in use by another meta-training run"
        + (holder.isEmpty ? "" : " (process \(holder))")
        + "; wait for it to finish or choose another --out"
    case .nonFiniteMetaParameters(let step):
      "θ has NaN or infinite elements at outer step \(step); it was not published (the last "
        + "checkpoint keeps the previous θ); lower outer.learningRate or "
        + "estimator.standardDeviation and resume"
    }
  }
}
