import LoptCore
import LoptData
import LoptLearned
import LoptOptimizers
import LoptTasks
import LoptTraining

/// Training tasks with a learned optimizer: the inner problem of real meta-training.
///
/// An episode builds its task from the spec the source draws, takes the task's initial
/// parameters, and trains them with the learned optimizer made from (perturbed) θ; the
/// optimizer's state is made on the first step, with the episode length as `totalSteps`
/// (VeLO's `num_steps`). Every reported loss is the task's normalised loss
/// (docs/meta-training-method.md §4); the optimizer itself sees the raw loss.
public struct LearnedOptimizerProblem<Optimizer: LearnedOptimizer>: InnerProblem {
  /// The learned optimizer's architecture.
  public let configuration: Optimizer.Configuration
  /// The tasks.
  public let source: TaskSource
  /// Where task data is looked up.
  public let locator: DataLocator
  /// θ's layout.
  public let metaParameterLayout: ParameterLayout

  /// A problem over `source` for optimizers of `configuration`.
  public init(
    configuration: Optimizer.Configuration, source: TaskSource, locator: DataLocator = DataLocator()
  ) {
    self.configuration = configuration
    self.source = source
    self.locator = locator
    metaParameterLayout = Optimizer.metaParameterLayout(for: configuration)
  }

  /// One inner training run.
  public struct Episode {
    /// The spec the task was built from.
    public let spec: TaskSpec
    /// The run (its task is shared by copies of the episode, which run one after the other).
    var run: TrainingRun<Optimizer.State>
    /// The model's parameters.
    public var parameters: ParameterSet { run.parameters }
    /// Steps done.
    public var step: Int { run.step }
    /// The planned length (the optimizer's `totalSteps`).
    public var length: Int { run.length }
  }

  /// Draws a family index from the source.
  public func sampleFamily(key: RandomKey) -> Int { source.sampleFamily(key: key) }

  /// The task's predicted step time.
  public func relativeCost(family: Int) -> Double { source.predictedSeconds(family: family) }

  /// The learned optimizer with meta-parameters `metaParameters`.
  public func rule(for metaParameters: ParameterSet) throws -> Optimizer {
    try Optimizer(configuration: configuration, metaParameters: metaParameters)
  }

  /// Builds the task and its initial parameters.
  public func startEpisode(key: RandomKey, length: Int, family: Int) throws -> Episode {
    try episode(of: try source.spec(family: family, key: key), length: length)
  }

  /// An episode of `length` steps on the task `spec` names.
  ///
  /// - Throws: `TaskSpecError` when the task cannot be built.
  public func episode(of spec: TaskSpec, length: Int) throws -> Episode {
    let task = try spec.makeTask(locator: locator)
    return Episode(
      spec: spec,
      run: TrainingRun(
        task: task, parameters: task.initialParameters(key: spec.initializationKey),
        length: length))
  }

  /// Trains `steps` steps; `false` when a loss, gradient or parameter is not finite.
  public func advance(
    _ episode: inout Episode, rule: Optimizer, steps: Int, losses: inout [Float]
  ) -> Bool {
    let task = episode.run.task
    do {
      try episode.run.advance(steps: steps, with: rule) { _, loss, _ in
        losses.append(task.normalize(loss))
      }
    } catch {
      return false
    }
    return episode.parameters.isFinite
  }

  /// The mean normalised training loss on the `batches` batches after the episode's last step.
  public func finalLoss(_ episode: inout Episode, batches: Int) -> Float {
    let (parameters, step) = (episode.parameters, episode.step)
    return episode.run.withTask { $0.recomputedLoss(parameters, after: step, batches: batches) }
  }
}
