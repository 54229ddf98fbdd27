import Foundation

// Features of how far a run has come: VeLO's and ScheduledAdamLOpt's (docs/velo.md §5–§6,
// E4–E6) where the run is relative to its planned length and how the training loss is trending
// over time scales from ten steps to the whole run, and MLPLOpt's and AdafacMLP's tanh
// embedding of the step count (docs/velo.md §18).

/// VeLO's fractional tanh embedding of `t / T`: `tanh(10 · (t/T − τ))` for nine thresholds τ.
enum FractionEmbedding {
  /// The thresholds τ.
  static let thresholds: [Float] = [0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1]

  /// The number of features.
  static var count: Int { thresholds.count }

  /// Writes the features for `fractionDone = t / T` (float32, as the reference computes it).
  static func write(fractionDone: Float, into destination: UnsafeMutablePointer<Float>) {
    for j in 0..<thresholds.count {
      destination[j] = Foundation.tanh(10 * (fractionDone - thresholds[j]))
    }
  }
}

/// VeLO's loss features: ten bias-corrected EMAs of the training loss with half-lives
/// log-spaced from 10 steps to the run length, turned into nine clipped trend ratios.
///
/// ```
/// cm_j = means_j / (1 − δ_j^(t+1));  M = max_j cm_j  (M = ℓ when t = 0)
/// ℓ' = min(2|M|, ℓ);  means_j ← δ_j means_j + (1 − δ_j) ℓ'
/// cm_j = means_j / (1 − δ_j^(t+1));  runningMin_j ← min(runningMin_j, cm_j)
/// f_j = clip((cm_j − runningMin_j) / max(1e-8, cm_{j+1} − runningMin_j) − 1, −1, 1)
/// ```
/// with all features 0 while `t + 1 ≤ 2`.
enum LossTrendFeatures {
  /// The number of EMAs.
  static let averageCount = 10
  /// The number of features.
  static let count = 9
  /// The initial running minimum (the reference's 999,999,999,999).
  static let initialRunningMinimum: Float = 999_999_999_999.0

  /// The EMA decays for a run of `horizon` steps: half-lives `logspace(1, log10 N, 10)`,
  /// decays `exp(−1/h)`.
  static func decays(horizon: Int) -> [Float] {
    let top = Float(log10(Double(horizon)))
    return (0..<averageCount).map { j in
      // jnp.logspace in float32: 10 ** linspace(1, log10 N, 10).
      let exponent = 1 + Float(j) * (top - 1) / 9
      let halfLife = Foundation.pow(Float(10), exponent)
      return Foundation.exp(-1 / halfLife)
    }
  }

  /// Adds `loss` at step `iteration` (0 for the first) to the EMAs and writes the features.
  ///
  /// - Complexity: O(1); allocates nothing.
  static func update(
    loss: Float, iteration t: Int, means: UnsafeMutablePointer<Float>,
    runningMinimum: UnsafeMutablePointer<Float>, decays: UnsafePointer<Float>,
    features: UnsafeMutablePointer<Float>
  ) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: averageCount) { corrected in
      var largest = -Float.infinity
      for j in 0..<averageCount {
        corrected[j] = 1 - Float(pow(Double(decays[j]), Double(t + 1)))
        largest = max(largest, means[j] / corrected[j])
      }
      if t == 0 { largest = loss }
      let clipped = min(2 * abs(largest), loss)
      for j in 0..<averageCount {
        means[j] = decays[j] * means[j] + (1 - decays[j]) * clipped
        runningMinimum[j] = min(runningMinimum[j], means[j] / corrected[j])
      }
      for j in 0..<count {
        guard t + 1 > 2 else {
          features[j] = 0
          continue
        }
        let current = means[j] / corrected[j] - runningMinimum[j]
        let next = means[j + 1] / corrected[j + 1] - runningMinimum[j]
        let ratio = current / max(1e-8, next) - 1
        features[j] = min(max(ratio, -1), 1)
      }
    }
  }
}

/// The 11 training-step features `tanh(t/τ − 1)`, τ = 1, 3, 10, …, 100000 (`tanh_embedding`).
enum TrainingStepEmbedding {
  /// The time scales τ.
  static let timescales: [Float] = [
    1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000,
  ]

  /// The number of features.
  static var count: Int { timescales.count }

  /// Writes the features for `iteration` (the step counter before the update).
  static func write(iteration: Int, into destination: UnsafeMutablePointer<Float>) {
    let t = Float(iteration)
    for k in 0..<timescales.count { destination[k] = tanh(t / timescales[k] - 1) }
  }
}
