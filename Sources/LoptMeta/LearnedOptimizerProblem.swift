import LoptCore
import LoptData
import LoptLearned
import LoptOptimizers
import LoptTasks

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
    metaParameterLayout =
      Optimizer.initialMetaParameters(for: configuration, key: RandomKey(seed: 0)).layout
  }

  /// One inner training run.
  public struct Episode {
    /// The spec the task was built from.
    public let spec: TaskSpec
    /// The task (shared by copies of the episode, which run one after the other).
    let task: any TrainingTask
    /// The model's parameters.
    public var parameters: ParameterSet
    /// Gradient buffer.
    var gradients: ParameterSet
    /// The optimizer's state; made on the first step.
    var optimizerState: Optimizer.State?
    /// The task's non-trainable state, swapped in while this copy runs.
    var modelState: ParameterSet
    /// Steps done.
    public var step: Int
    /// The planned length (the optimizer's `totalSteps`).
    public let length: Int
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
    let parameters = task.initialParameters(key: spec.initializationKey)
    return Episode(
      spec: spec, task: task, parameters: parameters, gradients: parameters.zerosLike(),
      optimizerState: nil, modelState: task.modelState, step: 0, length: length)
  }

  /// Trains `steps` steps; `false` when a loss, gradient or parameter is not finite.
  public func advance(
    _ episode: inout Episode, rule: Optimizer, steps: Int, losses: inout [Float]
  ) -> Bool {
    let task = episode.task
    task.modelState = episode.modelState
    defer { episode.modelState = task.modelState }
    var state =
      episode.optimizerState
      ?? rule.makeState(for: episode.parameters, totalSteps: episode.length)
    episode.optimizerState = nil
    defer { episode.optimizerState = state }
    for _ in 0..<steps {
      let loss = task.lossAndGradient(
        episode.parameters, step: episode.step, into: &episode.gradients)
      guard loss.isFinite, episode.gradients.isFinite else { return false }
      losses.append(task.normalize(loss))
      rule.update(&episode.parameters, gradients: episode.gradients, loss: loss, state: &state)
      episode.step += 1
    }
    return episode.parameters.isFinite
  }

  /// The mean normalised training loss on the `batches` batches after the episode's last step.
  public func finalLoss(_ episode: inout Episode, batches: Int) -> Float {
    episode.task.modelState = episode.modelState
    return Self.recomputedLoss(
      episode.task, parameters: episode.parameters, after: episode.step, batches: batches)
  }

  /// The mean normalised training loss of `task` at `parameters` on the `batches` batches of
  /// the steps after `step`.
  public static func recomputedLoss(
    _ task: any TrainingTask, parameters: ParameterSet, after step: Int, batches: Int
  ) -> Float {
    var total: Float = 0
    for b in 0..<batches { total += task.normalize(task.loss(parameters, step: step + b)) }
    return total / Float(batches)
  }
}
