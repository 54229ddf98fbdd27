import LoptCore

/// The state of a rule that keeps one momentum buffer: the buffer and the step counter.
///
/// Shared by ``Momentum`` (its trace) and ``Lion`` (its moving average of gradients).
public struct MomentumState: CheckpointableState, Equatable {
  /// The number of updates applied so far.
  public var iteration: Int
  /// The momentum buffer, in the parameters' layout.
  public var momentum: ParameterSet

  /// A zero buffer in the layout of `parameters`.
  public init(zerosLike parameters: ParameterSet) {
    iteration = 0
    momentum = parameters.zerosLike()
  }

  /// Stores the buffer and `iteration` under `prefix`.
  public func write(into file: inout SafetensorsFile, prefix: String) {
    file.setCounter(iteration, named: prefix + "iteration")
    file.setParameters(momentum, named: prefix + "momentum")
  }

  /// Restores what ``write(into:prefix:)`` stored.
  public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
    iteration = try file.readCounter(named: prefix + "iteration")
    try file.readParameters(&momentum, named: prefix + "momentum")
  }
}
