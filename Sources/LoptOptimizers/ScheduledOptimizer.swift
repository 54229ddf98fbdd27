import LoptCore

/// A rule whose learning rate follows a ``LearningRateSchedule`` over the planned run.
///
/// Step `t` (0-based) uses `base.learningRate · schedule.factor(step: t, totalSteps:)`, with
/// `totalSteps` taken from ``makeState(for:totalSteps:)``.
public struct ScheduledOptimizer<Base: LearningRateOptimizer>: Optimizer {
  /// The rule whose peak learning rate is scaled.
  public let base: Base
  /// The learning-rate curve.
  public let schedule: LearningRateSchedule

  /// Wraps `base` with `schedule`.
  public init(_ base: Base, schedule: LearningRateSchedule) {
    self.base = base
    self.schedule = schedule
  }

  /// The base rule's state plus the step counter and run length the schedule needs.
  public struct State: CheckpointableState {
    /// The wrapped rule's state.
    public var base: Base.State
    /// Updates applied so far.
    public var iteration: Int
    /// The planned run length.
    public var totalSteps: Int

    /// Stores the base state under `prefix + "base/"` and the counters beside it.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      base.write(into: &file, prefix: prefix + "base/")
      file.setCounter(iteration, named: prefix + "schedule_iteration")
      file.setCounter(totalSteps, named: prefix + "schedule_total_steps")
    }

    /// Restores what ``write(into:prefix:)`` stored.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      try base.restore(from: file, prefix: prefix + "base/")
      iteration = try file.readCounter(named: prefix + "schedule_iteration")
      totalSteps = try file.readCounter(named: prefix + "schedule_total_steps")
    }
  }

  /// The base rule's state and a zero step counter.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    State(
      base: base.makeState(for: parameters, totalSteps: totalSteps), iteration: 0,
      totalSteps: totalSteps)
  }

  /// One step of the base rule at the scheduled learning rate.
  ///
  /// - Complexity: that of the base rule; allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    let factor = schedule.factor(step: state.iteration, totalSteps: state.totalSteps)
    base.update(
      &parameters, gradients: gradients, learningRate: base.learningRate * factor,
      state: &state.base)
    state.iteration += 1
  }
}
