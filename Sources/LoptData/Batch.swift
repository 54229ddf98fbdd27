import LoptCore

/// One mini-batch: model inputs and the targets to predict.
///
/// Class indices and tokens are stored as `Float`, which is exact for integers below 2²⁴, so
/// the graph's `Float` input buffers take them directly. Image batches are `[B, H, W, C]`
/// inputs with `[B]` class targets; text batches are `[B, T]` tokens with `[B, T]` next tokens.
public struct Batch: Sendable {
  /// The model inputs.
  public var inputs: Tensor
  /// The targets: class indices or next tokens, as exact `Float` integers.
  public var targets: Tensor

  /// Creates a batch from its inputs and targets.
  public init(inputs: Tensor, targets: Tensor) {
    self.inputs = inputs
    self.targets = targets
  }
}

/// A deterministic source of mini-batches indexed by the global training step.
///
/// The batch for a step depends only on the sampler's data, batch size, key and the step,
/// so a run resumed at step `s` sees exactly the batches an uninterrupted run would.
public protocol BatchSampler: Sendable {
  /// Allocates a batch of the right shapes, to be reused by every ``fill(_:step:)``.
  func makeBatch() -> Batch

  /// Overwrites `batch` (made by ``makeBatch()``) with the batch for global step `step`.
  ///
  /// Allocates nothing as long as `batch`'s tensors are not shared with other values.
  mutating func fill(_ batch: inout Batch, step: Int)
}
