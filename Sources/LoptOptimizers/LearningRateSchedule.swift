import Foundation

/// How the learning rate changes over a run: a linear warm-up followed by a decay.
///
/// With `t` the number of updates applied so far (0 for the first), `w` the warm-up steps and
/// `D = max(1, totalSteps − w)`, the factor multiplying the peak learning rate is
///
/// ```
/// t < w:          t / w                         (optax linear_schedule from 0)
/// constant:       1
/// cosine:         ½ (1 + cos(π · min(t − w, D) / D))   (optax cosine_decay_schedule, alpha 0)
/// linear:         1 − min(t − w, D) / D          (optax linear_schedule to 0)
/// inverse-sqrt:   1 / √(1 + t − w)
/// ```
public struct LearningRateSchedule: Sendable, Equatable, Codable {
  /// The shape of the curve after the warm-up.
  public enum Decay: String, Sendable, Codable, CaseIterable {
    /// No decay.
    case constant
    /// Half a cosine down to zero at the last step.
    case cosine
    /// A straight line down to zero at the last step.
    case linear
    /// The inverse square root of the steps since the warm-up.
    case inverseSqrt = "inverse-sqrt"
  }

  /// The curve after the warm-up.
  public var decay: Decay
  /// Steps of linear warm-up from zero to the peak.
  public var warmupSteps: Int

  /// Creates a schedule.
  ///
  /// - Precondition: `warmupSteps ≥ 0`.
  public init(decay: Decay = .constant, warmupSteps: Int = 0) {
    precondition(warmupSteps >= 0, "warm-up steps must be ≥ 0, got \(warmupSteps)")
    self.decay = decay
    self.warmupSteps = warmupSteps
  }

  /// The factor multiplying the peak learning rate after `step` updates of `totalSteps`.
  public func factor(step: Int, totalSteps: Int) -> Float {
    if step < warmupSteps { return Float(step) / Float(warmupSteps) }
    let elapsed = Double(step - warmupSteps)
    let span = Double(max(1, totalSteps - warmupSteps))
    switch decay {
    case .constant: return 1
    case .cosine: return Float(0.5 * (1 + cos(Double.pi * min(elapsed, span) / span)))
    case .linear: return Float(1 - min(elapsed, span) / span)
    case .inverseSqrt: return Float(1 / (1 + elapsed).squareRoot())
    }
  }
}
