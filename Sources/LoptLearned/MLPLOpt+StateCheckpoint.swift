import LoptCore
import LoptOptimizers

extension MLPLOpt.State: CheckpointableState {
  /// Stores `iteration` and the momenta (`momentum/<tensor>`, shape `[K] + S`) under `prefix`.
  ///
  /// The step features and the scratch are rewritten by every step, so they are not stored.
  public func write(into file: inout SafetensorsFile, prefix: String) {
    file.setCounter(iteration, named: prefix + "iteration")
    file.setParameters(momentum, named: prefix + "momentum")
  }

  /// Restores what ``write(into:prefix:)`` stored.
  ///
  /// - Throws: `SafetensorsError` naming the tensor when it is missing or has another shape.
  public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
    iteration = try file.readCounter(named: prefix + "iteration")
    try file.readParameters(&momentum, named: prefix + "momentum")
  }
}
