import LoptCore
import LoptOptimizers
import LoptTasks

/// One task trained step by step: the parameters, the gradient buffer, the optimizer's state and
/// the task's non-trainable state, resumable in chunks and with another optimizer of the same
/// kind in each chunk (evolution strategies change θ between chunks).
///
/// Every training loop in Lopt is this one: ``train(_:optimizer:steps:key:logInterval:validationBatches:onRecord:)``,
/// meta-training episodes, the step-time measurement and `lopt bench`.
public struct TrainingRun<State> {
  /// The task (it may be shared by several runs that take turns: its non-trainable state is
  /// swapped in for each chunk).
  public let task: any TrainingTask
  /// The model's parameters.
  public var parameters: ParameterSet
  /// Steps done.
  public private(set) var step = 0
  /// The planned length, the optimizer's `totalSteps`.
  public let length: Int
  private var gradients: ParameterSet
  private var state: State?
  private var modelState: ParameterSet

  /// A run of `length` steps of `task` from `parameters`.
  public init(task: any TrainingTask, parameters: ParameterSet, length: Int) {
    self.task = task
    self.parameters = parameters
    self.length = length
    gradients = parameters.zerosLike()
    modelState = task.modelState
  }

  /// Trains `steps` steps with `optimizer` (its state is made on the first step and kept).
  ///
  /// Each step computes the loss and gradient on the step's batch, checks both are finite,
  /// calls `beforeUpdate` with the step, its loss and the parameters it was computed at, and
  /// applies the update.
  ///
  /// - Throws: ``TrainingError`` when the loss or a gradient element is not finite (the run
  ///   stops before that step's update).
  /// - Complexity: allocates nothing once the state exists.
  public mutating func advance<O: Optimizer>(
    steps: Int, with optimizer: O,
    beforeUpdate: (_ step: Int, _ loss: Float, _ parameters: ParameterSet) -> Void = { _, _, _ in }
  ) throws where O.State == State {
    task.modelState = modelState
    defer { modelState = task.modelState }
    var state = self.state ?? optimizer.makeState(for: parameters, totalSteps: length)
    self.state = nil
    defer { self.state = state }
    for _ in 0..<steps {
      let loss = task.lossAndGradient(parameters, step: step, into: &gradients)
      guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: step, loss: loss) }
      guard gradients.isFinite else { throw TrainingError.nonFiniteGradient(step: step) }
      beforeUpdate(step, loss, parameters)
      optimizer.update(&parameters, gradients: gradients, loss: loss, state: &state)
      step += 1
    }
  }

  /// Calls `body` with the task holding this run's non-trainable state; what `body` does to
  /// that state (a training-mode loss updates BatchNorm statistics) is not kept by the run.
  public func withTask<R>(_ body: (any TrainingTask) throws -> R) rethrows -> R {
    task.modelState = modelState
    return try body(task)
  }
}
