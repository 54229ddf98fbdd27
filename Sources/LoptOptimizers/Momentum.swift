import LoptCore

/// Stochastic gradient descent with heavy-ball or Nesterov momentum (optax `sgd`).
///
/// ```
/// trace ← g + β · trace
/// p ← p − lr · trace                 (heavy ball)
/// p ← p − lr · (g + β · trace)       (Nesterov)
/// ```
/// Plain SGD is this rule with β = 0 (``sgd(learningRate:)``). optax applies the learning
/// rate before the trace; that gives the same result for a constant learning rate, but under
/// a schedule optax's trace remembers old learning rates and this one does not.
public struct Momentum: LearningRateOptimizer {
  /// The step size `lr`.
  public let learningRate: Float
  /// The trace decay β (0: plain SGD).
  public let beta: Float
  /// Whether to take the Nesterov look-ahead step.
  public let isNesterov: Bool

  /// Creates momentum SGD; optax's `sgd` has no momentum by default, `lopt` uses β = 0.9.
  ///
  /// - Precondition: `learningRate ≥ 0` and `0 ≤ beta < 1`.
  public init(learningRate: Float, beta: Float = 0.9, isNesterov: Bool = false) {
    precondition(learningRate >= 0, "the learning rate must be ≥ 0, got \(learningRate)")
    precondition((0..<1).contains(beta), "momentum β must be in [0, 1), got \(beta)")
    self.learningRate = learningRate
    self.beta = beta
    self.isNesterov = isNesterov
  }

  /// Plain stochastic gradient descent, `p ← p − lr · g`.
  public static func sgd(learningRate: Float) -> Momentum {
    Momentum(learningRate: learningRate, beta: 0)
  }

  /// The momentum buffer and the step counter.
  public typealias State = MomentumState

  /// A zero momentum buffer in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    MomentumState(zerosLike: parameters)
  }

  /// Applies one step in a single fused pass.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    state.iteration += 1
    let (lr, b) = (learningRate, beta)
    let lookAhead: Float = isNesterov ? 1 : 0
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        state.momentum.withUnsafeMutableBufferPointer { m in
          for i in 0..<p.count {
            let t = g[i] + b * m[i]
            m[i] = t
            // Nesterov: g + β·t; heavy ball: t (selected without a branch in the loop).
            let direction = lookAhead * (g[i] + b * t) + (1 - lookAhead) * t
            p[i] -= lr * direction
          }
        }
      }
    }
  }
}
