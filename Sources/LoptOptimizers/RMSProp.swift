import CLoptShims
import LoptCore

/// RMSProp (Tieleman & Hinton, 2012) with optional momentum, as optax's `rmsprop`.
///
/// ```
/// ν ← ρ · ν + (1 − ρ) · g²                       (ν starts at optax's initial_scale, 0)
/// u = g / √(ν + ε)        (epsilonInsideRoot, optax's default eps_in_sqrt)
/// u = g / (√ν + ε)        (otherwise, PyTorch's form)
/// trace ← u + μ · trace;  p ← p − lr · trace     (μ = 0: p ← p − lr · u)
/// ```
/// With Nesterov momentum the step is `lr · (u + μ · trace)`. As for ``Momentum``, optax
/// applies the learning rate before the trace, which differs only under a schedule.
public struct RMSProp: LearningRateOptimizer {
  /// The step size `lr`.
  public let learningRate: Float
  /// The decay ρ of the squared-gradient average.
  public let decay: Float
  /// The stabiliser ε.
  public let epsilon: Float
  /// Whether ε is added inside the square root (optax's default) or outside.
  public let epsilonInsideRoot: Bool
  /// The momentum μ (0: none).
  public let momentum: Float
  /// Whether the momentum takes the Nesterov look-ahead step.
  public let isNesterov: Bool

  /// Creates RMSProp; the defaults are optax's (`decay` 0.9, `eps` 1e-8 inside the root,
  /// no momentum).
  ///
  /// - Precondition: `learningRate ≥ 0`, `0 ≤ decay < 1`, `epsilon ≥ 0`, `0 ≤ momentum < 1`.
  public init(
    learningRate: Float, decay: Float = 0.9, epsilon: Float = 1e-8,
    epsilonInsideRoot: Bool = true, momentum: Float = 0, isNesterov: Bool = false
  ) {
    precondition(learningRate >= 0, "the learning rate must be ≥ 0, got \(learningRate)")
    precondition((0..<1).contains(decay), "RMSProp's decay must be in [0, 1), got \(decay)")
    precondition(epsilon >= 0, "RMSProp's epsilon must be ≥ 0, got \(epsilon)")
    precondition((0..<1).contains(momentum), "momentum must be in [0, 1), got \(momentum)")
    self.learningRate = learningRate
    self.decay = decay
    self.epsilon = epsilon
    self.epsilonInsideRoot = epsilonInsideRoot
    self.momentum = momentum
    self.isNesterov = isNesterov
  }

  /// The squared-gradient average, the momentum trace and the step counter.
  public struct State: CheckpointableState, Equatable {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The average of squared gradients ν.
    public var squareAverage: ParameterSet
    /// The momentum trace (zero and unused without momentum).
    public var trace: ParameterSet

    /// Stores the buffers and `iteration` under `prefix`.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      file.setCounter(iteration, named: prefix + "iteration")
      file.setParameters(squareAverage, named: prefix + "nu")
      file.setParameters(trace, named: prefix + "trace")
    }

    /// Restores what ``write(into:prefix:)`` stored.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      iteration = try file.readCounter(named: prefix + "iteration")
      try file.readParameters(&squareAverage, named: prefix + "nu")
      try file.readParameters(&trace, named: prefix + "trace")
    }
  }

  /// Zero buffers in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    State(iteration: 0, squareAverage: parameters.zerosLike(), trace: parameters.zerosLike())
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
    let (lr, rho, mu) = (learningRate, decay, momentum)
    let (inner, outer) = epsilonInsideRoot ? (epsilon, Float(0)) : (Float(0), epsilon)
    let lookAhead: Float = isNesterov ? 1 : 0
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        state.squareAverage.withUnsafeMutableBufferPointer { v in
          state.trace.withUnsafeMutableBufferPointer { m in
            for i in 0..<p.count {
              let gi = g[i]
              let vi = rho * v[i] + (1 - rho) * gi * gi
              v[i] = vi
              let u = gi / (lopt_sqrtf(vi + inner) + outer)
              let t = u + mu * m[i]
              m[i] = t
              p[i] -= lr * (lookAhead * (u + mu * t) + (1 - lookAhead) * t)
            }
          }
        }
      }
    }
  }
}
