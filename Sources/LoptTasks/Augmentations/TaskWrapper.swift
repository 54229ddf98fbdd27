import LoptCore
import LoptData

/// A task that forwards everything to an inner task; augmentations subclass it and replace
/// what they change.
///
/// The normaliser is always the inner task's (docs/meta-training-method.md §4.2).
public class TaskWrapper: TrainingTask {
  /// The wrapped task.
  public let inner: any TrainingTask

  /// Wraps `inner`.
  public init(_ inner: any TrainingTask) {
    self.inner = inner
  }

  /// The inner task's layout.
  public var layout: ParameterLayout { inner.layout }

  /// The inner task's model state.
  public var modelState: ParameterSet {
    get { inner.modelState }
    set { inner.modelState = newValue }
  }

  /// The inner task's initial parameters.
  public func initialParameters(key: RandomKey) -> ParameterSet {
    inner.initialParameters(key: key)
  }

  /// The inner task's loss and gradient.
  public func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    inner.lossAndGradient(parameters, step: step, into: &gradients)
  }

  /// The inner task's loss.
  public func loss(_ parameters: ParameterSet, step: Int) -> Float {
    inner.loss(parameters, step: step)
  }

  /// The inner task's evaluation.
  public func evaluation(
    _ parameters: ParameterSet, split: DatasetSplit, batches: Int
  ) -> EvaluationMetrics {
    inner.evaluation(parameters, split: split, batches: batches)
  }

  /// The inner task's normaliser.
  public func normalize(_ loss: Float) -> Float { inner.normalize(loss) }
}
