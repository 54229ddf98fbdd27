import Foundation

/// How the learning rate changes over a run: a linear warm-up followed by a decay.
///
/// With `t` the number of updates applied so far (0 for the first), `w` the warm-up steps
/// (`warmupSteps` plus `warmupFraction` of the run, rounded) and `D = max(1, totalSteps − w)`,
/// the factor multiplying the peak learning rate is
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
  /// Further warm-up, as a share of the run's length (for schedules that scale with the run).
  public var warmupFraction: Float

  /// Creates a schedule.
  ///
  /// - Precondition: `warmupSteps ≥ 0` and `warmupFraction` in [0, 1).
  public init(decay: Decay = .constant, warmupSteps: Int = 0, warmupFraction: Float = 0) {
    precondition(warmupSteps >= 0, "warm-up steps must be ≥ 0, got \(warmupSteps)")
    precondition((0..<1).contains(warmupFraction), "warm-up fraction must be in [0, 1)")
    self.decay = decay
    self.warmupSteps = warmupSteps
    self.warmupFraction = warmupFraction
  }

  /// Decodes a schedule; `warmupFraction` may be missing (0).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    decay = try container.decode(Decay.self, forKey: .decay)
    warmupSteps = try container.decode(Int.self, forKey: .warmupSteps)
    warmupFraction = try container.decodeIfPresent(Float.self, forKey: .warmupFraction) ?? 0
    guard warmupSteps >= 0, (0..<1).contains(warmupFraction) else {
      throw DecodingError.dataCorruptedError(
        forKey: .warmupFraction, in: container,
        debugDescription: "a schedule needs warmupSteps ≥ 0 and warmupFraction in [0, 1), got "
          + "\(warmupSteps) and \(warmupFraction)")
    }
  }

  /// The warm-up steps of a run of `totalSteps` steps.
  public func warmup(totalSteps: Int) -> Int {
    warmupSteps + Int((Double(warmupFraction) * Double(max(0, totalSteps))).rounded())
  }

  /// The factor multiplying the peak learning rate after `step` updates of `totalSteps`.
  public func factor(step: Int, totalSteps: Int) -> Float {
    let warmupSteps = warmup(totalSteps: totalSteps)
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
