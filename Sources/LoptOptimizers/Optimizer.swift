import Foundation
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

/// An optimizer whose step is the learning rate times a direction computed from the state.
///
/// Schedules (``ScheduledOptimizer``) and gradient clipping (``ClippedOptimizer``) compose
/// with any such rule by passing a different `learningRate` or different gradients to
/// ``update(_:gradients:learningRate:state:)``. Hand-designed rules ignore the loss.
public protocol LearningRateOptimizer: Optimizer where State: CheckpointableState {
  /// The (peak) step size.
  var learningRate: Float { get }

  /// Applies one step with the step size `learningRate` instead of ``learningRate``.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State)
}

extension LearningRateOptimizer {
  /// Applies one step with the optimizer's own learning rate; the loss is not used.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    update(&parameters, gradients: gradients, learningRate: learningRate, state: &state)
  }
}

extension Optimizer where State: CheckpointableState {
  /// Writes `state` to a safetensors file at `url`, atomically.
  ///
  /// - Throws: `AtomicFileError` if the file cannot be written.
  public func saveState(_ state: State, to url: URL) throws {
    var file = SafetensorsFile(metadata: ["format": "lopt-optimizer-state"])
    state.write(into: &file, prefix: "")
    try file.write(to: url)
  }

  /// Reads a state written by ``saveState(_:to:)`` for `parameters`' layout.
  ///
  /// - Throws: `SafetensorsError` naming the tensor when the file was written for other
  ///   shapes, another optimizer or is damaged.
  public func loadState(
    from url: URL, for parameters: ParameterSet, totalSteps: Int
  ) throws -> State {
    var state = makeState(for: parameters, totalSteps: totalSteps)
    let file = try SafetensorsFile(contentsOf: url)
    do {
      try state.restore(from: file, prefix: "")
    } catch let error as SafetensorsError {
      throw SafetensorsError.inFile(path: url.path, error)
    }
    return state
  }
}
