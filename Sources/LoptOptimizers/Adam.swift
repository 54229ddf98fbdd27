import CLoptShims
import Foundation
import LoptCore

/// Adam (Kingma & Ba, 2015) with optax's conventions and defaults.
///
/// ```
/// m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
/// m̂ = m / (1 − β₁ᵗ)              v̂ = v / (1 − β₂ᵗ)
/// p ← p − lr · m̂ / (√(v̂ + ε_root) + ε)
/// ```
public struct Adam: Optimizer {
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

  /// Creates Adam; the defaults are optax's (`b1` 0.9, `b2` 0.999, `eps` 1e-8, `eps_root` 0).
  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
    epsilon: Float = 1e-8, epsilonRoot: Float = 0
  ) {
    precondition(learningRate >= 0, "Adam's learning rate must be ≥ 0, got \(learningRate)")
    precondition(
      (0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam's betas must be in [0, 1)")
    precondition(epsilon >= 0 && epsilonRoot >= 0, "Adam's epsilons must be ≥ 0")
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.epsilonRoot = epsilonRoot
  }

  /// Adam's moments and step counter.
  public struct State: Sendable, Equatable {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The first-moment estimate m.
    public var firstMoment: ParameterSet
    /// The second-moment estimate v.
    public var secondMoment: ParameterSet
  }

  /// Zero moments in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    State(iteration: 0, firstMoment: parameters.zerosLike(), secondMoment: parameters.zerosLike())
  }

  /// Applies one Adam step to every parameter in a single fused pass.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    state.iteration += 1
    let t = Float(state.iteration)
    let (b1, b2, eps, epsRoot) = (beta1, beta2, epsilon, epsilonRoot)
    let firstCorrection = 1 / (1 - pow(b1, t))
    let secondCorrection = 1 / (1 - pow(b2, t))
    let lr = learningRate
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        state.firstMoment.withUnsafeMutableBufferPointer { m in
          state.secondMoment.withUnsafeMutableBufferPointer { v in
            for i in 0..<p.count {
              let gi = g[i]
              let mi = b1 * m[i] + (1 - b1) * gi
              let vi = b2 * v[i] + (1 - b2) * gi * gi
              m[i] = mi
              v[i] = vi
              let denominator = lopt_sqrtf(vi * secondCorrection + epsRoot) + eps
              p[i] -= lr * (mi * firstCorrection) / denominator
            }
          }
        }
      }
    }
  }
}
