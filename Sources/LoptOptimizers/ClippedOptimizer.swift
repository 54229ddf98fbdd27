import LoptCore

/// A rule that sees gradients clipped to a maximum global norm (optax `clip_by_global_norm`).
///
/// ```
/// n = √(Σ g²) over every tensor;   g ← g · c / n   when n > c
/// ```
public struct ClippedOptimizer<Base: LearningRateOptimizer>: LearningRateOptimizer {
  /// The rule that receives the clipped gradients.
  public let base: Base
  /// The largest global gradient norm `c` passed on.
  public let maximumNorm: Float

  /// Wraps `base` so its gradients never have a global norm above `maximumNorm`.
  ///
  /// - Precondition: `maximumNorm > 0`.
  public init(_ base: Base, maximumNorm: Float) {
    precondition(maximumNorm > 0, "the clipping norm must be > 0, got \(maximumNorm)")
    self.base = base
    self.maximumNorm = maximumNorm
  }

  /// The base rule's learning rate.
  public var learningRate: Float { base.learningRate }

  /// The base rule's state plus a buffer for the clipped gradients.
  public struct State: CheckpointableState {
    /// The wrapped rule's state.
    public var base: Base.State
    /// Scratch space for the clipped gradients (not saved: rewritten every step).
    public var clipped: ParameterSet

    /// Stores the base state (the scratch buffer holds nothing between steps).
    public func write(into file: inout SafetensorsFile, prefix: String) {
      base.write(into: &file, prefix: prefix)
    }

    /// Restores the base state.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      try base.restore(from: file, prefix: prefix)
    }
  }

  /// The base rule's state and the clipping buffer.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    State(
      base: base.makeState(for: parameters, totalSteps: totalSteps),
      clipped: parameters.zerosLike())
  }

  /// Clips the gradients, then applies the base rule.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    let limit = maximumNorm
    gradients.withUnsafeBufferPointer { g in
      state.clipped.withUnsafeMutableBufferPointer { c in
        var sum: Double = 0
        for x in g { sum += Double(x) * Double(x) }
        let norm = Float(sum.squareRoot())
        let scale = norm > limit ? limit / norm : 1
        for i in 0..<g.count { c[i] = g[i] * scale }
      }
    }
    base.update(
      &parameters, gradients: state.clipped, learningRate: learningRate, state: &state.base)
  }
}
