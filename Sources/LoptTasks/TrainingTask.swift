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

  /// Persistent non-trainable state (BatchNorm running statistics); empty when there is none.
  var modelState: ParameterSet { get set }

  /// Fresh parameters from the model's initializers.
  func initialParameters(key: RandomKey) -> ParameterSet

  /// Fills the task's training batch for global step `step`, computes the training loss at
  /// `parameters` and writes its gradient into `gradients`. Allocates nothing.
  func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float

  /// The training loss on the batch (and randomness) of `step`, without a gradient.
  func loss(_ parameters: ParameterSet, step: Int) -> Float

  /// The mean loss over `batches` batches of `split` (evaluation mode: no dropout, running
  /// statistics), with the batches fixed by the task's key so repeated calls agree, and for a
  /// classifier the fraction of those examples it classifies correctly.
  func evaluation(_ parameters: ParameterSet, split: DatasetSplit, batches: Int)
    -> EvaluationMetrics

  /// Maps a raw loss of this task to VeLO's common range (docs/meta-training-method.md §4.2).
  func normalize(_ loss: Float) -> Float
}

/// What an evaluation of a task measures.
public struct EvaluationMetrics: Sendable, Equatable, Codable {
  /// The mean loss.
  public var loss: Float
  /// The fraction of examples whose largest logit is their label (classifiers only).
  public var accuracy: Float?

  /// Creates metrics.
  public init(loss: Float, accuracy: Float? = nil) {
    self.loss = loss
    self.accuracy = accuracy
  }
}

extension TrainingTask {
  /// The mean loss of ``evaluation(_:split:batches:)``.
  public func evaluate(_ parameters: ParameterSet, split: DatasetSplit, batches: Int) -> Float {
    evaluation(parameters, split: split, batches: batches).loss
  }

  /// The mean normalised training loss at `parameters` on the batches of the `batches` steps
  /// after `step`: VeLO's `last_recompute` score of a run that ended at `step`.
  ///
  /// ```
  /// (1 / batches) · Σ_{b < batches} normalize(loss(parameters, step: step + b))
  /// ```
  public func recomputedLoss(_ parameters: ParameterSet, after step: Int, batches: Int) -> Float {
    var total: Float = 0
    for b in 0..<batches { total += normalize(loss(parameters, step: step + b)) }
    return total / Float(batches)
  }
}
