import LoptCore
import LoptOptimizers

extension AdafacMLP.State: CheckpointableState {
  /// Stores the counters and every accumulator under `prefix`: `iteration`, `total_steps`,
  /// and per tensor `momentum/<tensor>`, `rms/<tensor>`, `factored_rows/<tensor>`,
  /// `factored_columns/<tensor>` and `diagonal/<tensor>` in the shapes ``AdafacMLP/State``
  /// documents (decay axis first).
  ///
  /// The factored views, step features and scratch follow from the shapes or are rewritten
  /// by every step, so they are not stored.
  public func write(into file: inout SafetensorsFile, prefix: String) {
    file.setCounter(iteration, named: prefix + "iteration")
    file.setCounter(totalSteps, named: prefix + "total_steps")
    file.setParameters(momentum, named: prefix + "momentum")
    file.setParameters(rms, named: prefix + "rms")
    file.setParameters(factoredRows, named: prefix + "factored_rows")
    file.setParameters(factoredColumns, named: prefix + "factored_columns")
    file.setParameters(diagonal, named: prefix + "diagonal")
  }

  /// Restores what ``write(into:prefix:)`` stored.
  ///
  /// - Throws: `SafetensorsError` naming the tensor when it is missing or has another shape,
  ///   or when the run length differs from the state's.
  public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
    try file.expectCounter(named: prefix + "total_steps", equals: totalSteps)
    iteration = try file.readCounter(named: prefix + "iteration")
    try file.readParameters(&momentum, named: prefix + "momentum")
    try file.readParameters(&rms, named: prefix + "rms")
    try file.readParameters(&factoredRows, named: prefix + "factored_rows")
    try file.readParameters(&factoredColumns, named: prefix + "factored_columns")
    try file.readParameters(&diagonal, named: prefix + "diagonal")
  }
}
