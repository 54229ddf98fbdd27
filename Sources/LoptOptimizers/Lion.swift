import LoptCore

/// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"), as optax's `lion`.
///
/// ```
/// c = β₁·m + (1 − β₁)·g
/// p ← p − lr · (sign(c) + λ·p)
/// m ← β₂·m + (1 − β₂)·g
/// ```
/// optax's defaults: β₁ 0.9, β₂ 0.99, decoupled weight decay λ 1e-3 on every parameter.
public struct Lion: LearningRateOptimizer {
  /// The step size `lr` (Lion's steps are ±lr per element: use about a tenth of Adam's).
  public let learningRate: Float
  /// The interpolation β₁ for the update direction.
  public let beta1: Float
  /// The momentum decay β₂.
  public let beta2: Float
  /// The decoupled weight decay λ.
  public let weightDecay: Float

  /// Creates Lion with optax's defaults.
  ///
  /// - Precondition: `learningRate ≥ 0`, betas in [0, 1], `weightDecay ≥ 0`.
  public init(
    learningRate: Float = 1e-4, beta1: Float = 0.9, beta2: Float = 0.99, weightDecay: Float = 1e-3
  ) {
    precondition(learningRate >= 0, "the learning rate must be ≥ 0, got \(learningRate)")
    precondition(
      (0...1).contains(beta1) && (0...1).contains(beta2), "Lion's betas must be in [0, 1]")
    precondition(weightDecay >= 0, "the weight decay must be ≥ 0, got \(weightDecay)")
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.weightDecay = weightDecay
  }

  /// The momentum buffer and the step counter.
  public typealias State = MomentumState

  /// A zero momentum buffer in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    MomentumState(zerosLike: parameters)
  }

  /// Applies one Lion step in a single fused pass.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    state.iteration += 1
    let (lr, b1, b2, decay) = (learningRate, beta1, beta2, weightDecay)
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        state.momentum.withUnsafeMutableBufferPointer { m in
          for i in 0..<p.count {
            let c = (1 - b1) * g[i] + b1 * m[i]
            let sign: Float = c > 0 ? 1 : (c < 0 ? -1 : 0)
            p[i] -= lr * (sign + decay * p[i])
            m[i] = b2 * m[i] + (1 - b2) * g[i]
          }
        }
      }
    }
  }
}
