import LoptCore
import LoptData

/// A model, its data and its loss: what an optimizer trains.
///
/// A task owns its static tape and its batch buffers, so a step allocates nothing; it is used
/// by one thread at a time (parallel workers build their own from the same spec). Data for
/// step `s` is a pure function of the task's key and `s`, so a resumed run sees the same batches.
public protocol TrainingTask: AnyObject {
  /// The names and shapes of the trainable tensors.
  var layout: ParameterLayout { get }

  /// Fresh parameters from the model's initializers.
  func initialParameters(key: RandomKey) -> ParameterSet

  /// Fills the task's training batch for global step `step`, computes the training loss at
  /// `parameters` and writes its gradient into `gradients`. Allocates nothing.
  func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float

  /// The mean loss over `batches` batches of `split` (evaluation mode: no dropout, running
  /// statistics), with the batches fixed by the task's key so repeated calls agree.
  func evaluate(_ parameters: ParameterSet, split: DatasetSplit, batches: Int) -> Float
}
