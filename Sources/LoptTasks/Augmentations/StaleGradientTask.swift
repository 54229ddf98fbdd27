import LoptCore

/// Stale (asynchronous) gradients (docs/meta-training-method.md §8, `AsyncDelayedGradients`).
///
/// The loss and gradient are evaluated at the parameters the task was called with
/// `lag = max(1, d − 1)` calls earlier (the first parameters while the history is shorter),
/// and the optimizer applies them to the current parameters. The history is a ring of `lag`
/// parameter copies, filled with the first parameters on the first call.
public final class StaleGradientTask: TaskWrapper {
  /// The delay `d`.
  public let delay: Int
  /// How many calls back the gradient is evaluated, `max(1, d − 1)`.
  public var lag: Int { max(1, delay - 1) }
  private var history: [ParameterSet]
  private var evaluated: ParameterSet
  private var calls = 0

  /// Wraps `inner`.
  public init(_ inner: any TrainingTask, delay: Int) {
    precondition(delay >= 1, "the delay must be at least 1, got \(delay)")
    self.delay = delay
    history = (0..<max(1, delay - 1)).map { _ in ParameterSet(layout: inner.layout) }
    evaluated = ParameterSet(layout: inner.layout)
    super.init(inner)
  }

  /// The loss and gradient at the parameters of `lag` calls ago; records `parameters`.
  public override func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    if calls == 0 {
      for k in history.indices { copy(parameters, into: &history[k]) }
    }
    let slot = calls % lag
    copy(history[slot], into: &evaluated)
    copy(parameters, into: &history[slot])
    calls += 1
    return inner.lossAndGradient(evaluated, step: step, into: &gradients)
  }

  private func copy(_ source: ParameterSet, into destination: inout ParameterSet) {
    source.withUnsafeBufferPointer { s in
      destination.withUnsafeMutableBufferPointer { d in
        d.baseAddress!.update(from: s.baseAddress!, count: d.count)
      }
    }
  }
}
