import CLoptShims
import Foundation
import LoptCore

/// Adam (Kingma & Ba, 2015) with optax's conventions and defaults, optionally with decoupled
/// weight decay (AdamW) and Nesterov momentum (NAdamW).
///
/// ```
/// m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
/// m̂ = m / (1 − β₁ᵗ)                                 (Adam)
/// m̂ = β₁·m / (1 − β₁ᵗ⁺¹) + (1 − β₁)·g / (1 − β₁ᵗ)    (Nesterov, optax nadamw)
/// v̂ = v / (1 − β₂ᵗ)
/// p ← p − lr · (m̂ / (√(v̂ + ε_root) + ε) + λ·p)     (λ: decoupled weight decay)
/// ```
/// optax's `adamw` and `nadamw` apply the decay to every parameter when no mask is given; so
/// does this rule.
public struct Adam: LearningRateOptimizer {
  /// The step size `lr`.
  public let learningRate: Float
  /// The first-moment decay β₁.
  public let beta1: Float
  /// The second-moment decay β₂.
  public let beta2: Float
  /// Added to the root of the second moment (optax `eps`).
  public let epsilon: Float
  /// Added to the second moment inside the root (optax `eps_root`).
  public let epsilonRoot: Float
  /// The decoupled weight decay λ (0: plain Adam).
  public let weightDecay: Float
  /// Whether to use the Nesterov form of the first moment (NAdam).
  public let isNesterov: Bool

  /// Creates Adam; the defaults are optax's (`b1` 0.9, `b2` 0.999, `eps` 1e-8, `eps_root` 0)
  /// and no weight decay.
  ///
  /// - Precondition: `learningRate ≥ 0`, betas in [0, 1), epsilons and decay ≥ 0.
  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
    epsilon: Float = 1e-8, epsilonRoot: Float = 0, weightDecay: Float = 0,
    isNesterov: Bool = false
  ) {
    precondition(learningRate >= 0, "Adam's learning rate must be ≥ 0, got \(learningRate)")
    precondition(
      (0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam's betas must be in [0, 1)")
    precondition(epsilon >= 0 && epsilonRoot >= 0, "Adam's epsilons must be ≥ 0")
    precondition(weightDecay >= 0, "the weight decay must be ≥ 0, got \(weightDecay)")
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.epsilonRoot = epsilonRoot
    self.weightDecay = weightDecay
    self.isNesterov = isNesterov
  }

  /// AdamW: Adam with decoupled weight decay (optax `adamw`, default decay 1e-4).
  public static func adamW(learningRate: Float = 1e-3, weightDecay: Float = 1e-4) -> Adam {
    Adam(learningRate: learningRate, weightDecay: weightDecay)
  }

  /// NAdamW: AdamW with Nesterov momentum (optax `nadamw`, default decay 1e-4).
  public static func nadamW(learningRate: Float = 1e-3, weightDecay: Float = 1e-4) -> Adam {
    Adam(learningRate: learningRate, weightDecay: weightDecay, isNesterov: true)
  }

  /// Adam's moments and step counter.
  public struct State: CheckpointableState, Equatable {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The first-moment estimate m.
    public var firstMoment: ParameterSet
    /// The second-moment estimate v.
    public var secondMoment: ParameterSet

    /// Stores the moments and `iteration` under `prefix`.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      file.setCounter(iteration, named: prefix + "iteration")
      file.setParameters(firstMoment, named: prefix + "mu")
      file.setParameters(secondMoment, named: prefix + "nu")
    }

    /// Restores what ``write(into:prefix:)`` stored.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      iteration = try file.readCounter(named: prefix + "iteration")
      try file.readParameters(&firstMoment, named: prefix + "mu")
      try file.readParameters(&secondMoment, named: prefix + "nu")
    }
  }

  /// Zero moments in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    State(iteration: 0, firstMoment: parameters.zerosLike(), secondMoment: parameters.zerosLike())
  }

  /// Applies one Adam step to every parameter in a single fused pass.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    state.iteration += 1
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        state.firstMoment.withUnsafeMutableBufferPointer { m in
          state.secondMoment.withUnsafeMutableBufferPointer { v in
            step(
              p.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!, count: p.count,
              learningRate: learningRate, iteration: state.iteration)
          }
        }
      }
    }
  }

  /// Step `iteration` (1-based) of this rule on `count` elements at `p`, with their gradients
  /// `g` and moments `m` and `v` (the fused loop of ``update(_:gradients:learningRate:state:)``,
  /// also used by ``Muon`` for the tensors it does not orthogonalise).
  ///
  /// - Complexity: O(count); allocates nothing.
  @inline(__always)
  func step(
    _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
    _ v: UnsafeMutablePointer<Float>, count: Int, learningRate lr: Float, iteration: Int
  ) {
    let t = Float(iteration)
    let (b1, b2, eps, epsRoot, decay) = (beta1, beta2, epsilon, epsilonRoot, weightDecay)
    // m̂ = momentScale · m + gradientScale · g covers both forms.
    let momentScale = isNesterov ? b1 / (1 - pow(b1, t + 1)) : 1 / (1 - pow(b1, t))
    let gradientScale = isNesterov ? (1 - b1) / (1 - pow(b1, t)) : 0
    let secondCorrection = 1 / (1 - pow(b2, t))
    for i in 0..<count {
      let gi = g[i]
      let mi = b1 * m[i] + (1 - b1) * gi
      let vi = b2 * v[i] + (1 - b2) * gi * gi
      m[i] = mi
      v[i] = vi
      let denominator = lopt_sqrtf(vi * secondCorrection + epsRoot) + eps
      let direction = (mi * momentScale + gi * gradientScale) / denominator
      p[i] -= lr * (direction + decay * p[i])
    }
  }
}
