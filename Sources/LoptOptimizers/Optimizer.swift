import LoptCore

/// A rule that turns gradients into parameter changes.
///
/// Conformers are immutable configuration (hyper-parameters; for a learned optimizer, its
/// meta-parameters θ). Everything that changes while training lives in `State`, including the
/// step counter, so many runs can share one optimizer value and a run can be checkpointed by
/// saving its state. Hand-designed rules ignore `loss` and `totalSteps`; learned ones use them.
public protocol Optimizer: Sendable {
  /// Moments, accumulators, recurrent state and the step counter.
  associatedtype State: Sendable

  /// Allocates every buffer the updates will use; `totalSteps` is the planned run length.
  func makeState(for parameters: ParameterSet, totalSteps: Int) -> State

  /// Applies one step in place. Allocates nothing.
  ///
  /// - Parameters:
  ///   - parameters: updated in place.
  ///   - gradients: same layout as `parameters`.
  ///   - loss: training loss at `parameters` before the step; rules that don't use it ignore it.
  ///   - state: advanced by one step.
  func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State)
}
