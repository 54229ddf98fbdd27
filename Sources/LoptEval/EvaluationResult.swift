import Foundation
import LoptTasks

/// What an ``Evaluation`` measured: per task every optimizer's final loss, learning rate and
/// speedups, and the tuned baselines' envelopes; `results.json` is this value.
public struct EvaluationResult: Codable, Sendable {
  /// An evaluated optimizer's description.
  public struct OptimizerInfo: Codable, Sendable, Equatable {
    /// The label.
    public var name: String
    /// Whether its learning rate was tuned on the grid.
    public var isTuned: Bool
    /// The compute spent meta-training it, when recorded.
    public var metaTrainingCoreHours: Double?
  }

  /// One optimizer on one task.
  public struct OptimizerRun: Codable, Sendable, Equatable {
    /// The optimizer's label.
    public var name: String
    /// The best learning rate (tuned optimizers only).
    public var learningRate: Float?
    /// The seed-averaged EMA-smoothed training loss at the last step; `nil` if it diverged.
    public var finalLoss: Float?
    /// ``finalLoss`` over tuned Adam's envelope at the same step.
    public var lossRatio: Double?
    /// Seeds that diverged (fixed optimizers; a tuned one that diverged at every rate has no
    /// final loss).
    public var divergedSeeds: [UInt64]
    /// The speedup over each baseline, by baseline name (0 when it diverged), and over
    /// ``Evaluation/scheduleReference`` when it was evaluated.
    public var speedups: [String: Double]
    /// The seed-averaged EMA-smoothed training loss of every step.
    public var curve: [Float]
    /// The seed-averaged test accuracy after the last step (classifiers; `nil` otherwise).
    public var accuracy: Float? = nil
  }

  /// One tuned baseline on one task.
  public struct Baseline: Codable, Sendable, Equatable {
    /// The baseline's label.
    public var name: String
    /// The learning rate best at the baseline's full horizon.
    public var learningRate: Float?
    /// The envelope at the evaluated optimizers' last step: the baseline tuned for that budget.
    public var lossAtBudget: Float?
    /// The best rate's smoothed loss at the baseline's last step.
    public var finalLoss: Float?
    /// The steps of the resampled envelope.
    public var envelopeSteps: [Double]
    /// The resampled, non-increasing envelope (empty when every rate diverged).
    public var envelope: [Float]
    /// The seed-averaged test accuracy at the best learning rate after `baselineSteps`
    /// (classifiers; `nil` otherwise).
    public var accuracy: Float? = nil
  }

  /// One task's results.
  public struct Task: Codable, Sendable, Equatable {
    /// The task's label.
    public var name: String
    /// The task (each evaluation seed replaces its seed).
    public var spec: TaskSpec
    /// Trainable parameters.
    public var parameterCount: Int
    /// Training steps of the evaluated optimizers.
    public var steps: Int
    /// Training steps of the baselines.
    public var baselineSteps: Int
    /// The evaluated optimizers, in command-line order.
    public var optimizers: [OptimizerRun]
    /// The baselines, in command-line order.
    public var baselines: [Baseline]
  }

  /// The suite's name.
  public var suite: String
  /// Training steps of the evaluated optimizers (before each task's multiple).
  public var steps: Int
  /// Seeds per run.
  public var seeds: Int
  /// The learning-rate grid.
  public var learningRates: [Float]
  /// How many times longer the baselines train.
  public var baselineMultiple: Int
  /// The baselines' names; the first is not necessarily Adam (see ``Evaluation/headlineBaseline``).
  public var baselines: [String]
  /// The evaluated optimizers.
  public var optimizers: [OptimizerInfo]
  /// Per task results, in suite order.
  public var tasks: [Task]
  /// The wall time of the evaluation call that produced this (cached runs cost nothing).
  public var wallSeconds: Double
  /// The summed wall time of every run when it was computed (one core each).
  public var trainingSeconds: Double

  /// Per optimizer and baseline name (and ``Evaluation/scheduleReference`` when it was
  /// evaluated), the statistics of the speedups over the tasks.
  public var aggregates: [String: [String: SpeedupStatistics]]

  /// Collects the results and computes the ``aggregates``.
  init(
    suite: String, steps: Int, seeds: Int, learningRates: [Float], baselineMultiple: Int,
    baselines: [String], optimizers: [OptimizerInfo], tasks: [Task], wallSeconds: Double,
    trainingSeconds: Double
  ) {
    self.suite = suite
    self.steps = steps
    self.seeds = seeds
    self.learningRates = learningRates
    self.baselineMultiple = baselineMultiple
    self.baselines = baselines
    self.optimizers = optimizers
    self.tasks = tasks
    self.wallSeconds = wallSeconds
    self.trainingSeconds = trainingSeconds
    var aggregates: [String: [String: SpeedupStatistics]] = [:]
    let references =
      optimizers.contains { $0.name == Evaluation.scheduleReference }
      ? [Evaluation.scheduleReference] : []
    for optimizer in optimizers {
      for baseline in baselines + references {
        let values = tasks.compactMap { task in
          task.optimizers.first { $0.name == optimizer.name }?.speedups[baseline]
        }
        aggregates[optimizer.name, default: [:]][baseline] = SpeedupStatistics(values)
      }
    }
    self.aggregates = aggregates
  }

  /// The result as pretty JSON with sorted keys (non-finite numbers as strings).
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try encoder.encode(self)
  }
}
