/// VeLO's normaliser (docs/evaluation-metric.md §3): how many steps a learning-rate-tuned baseline
/// needs to reach a loss, read off its lower envelope.
///
/// The envelope is built from a learning-rate sweep of the baseline: per learning rate the
/// seed-averaged training loss smoothed with an EMA (α = 0.95, first value kept), the pointwise
/// minimum over learning rates, resampled at ``resolution`` evenly spaced steps on
/// `[0, horizon]` and made non-increasing with a running minimum. `A(L)` is then the smallest
/// step at which the envelope reaches `L`, by linear interpolation between resampled points:
///
/// ```
/// A(L) = horizon   if L < min E (the baseline never gets there: the cap)
/// A(L) = 0         if L ≥ E(0), or L is not finite
/// A(L) = s_i + (s_{i+1} − s_i) · (E_i − L) / (E_i − E_{i+1})   with E_i ≥ L > E_{i+1}
/// ```
///
/// Steps count from 0: the loss at step `s` is the loss on the batch of step `s`, after `s`
/// updates, so a run of `T` steps ends at step `T − 1` and ``horizon`` is the baseline's last
/// step.
public struct SpeedupNormalizer: Sendable, Equatable {
  /// The number of resampled points (VeLO's `_v1` normalisers use 512).
  public static let resolution = 512

  /// The resampled, non-increasing envelope `E_i` at ``steps``.
  public let losses: [Float]
  /// The steps of the resampled points: `i · horizon / (resolution − 1)`.
  public let steps: [Double]
  /// The last step of the baseline's runs, the cap of ``stepsToReach(_:)``.
  public let horizon: Double

  /// A normaliser over the per-step envelope `envelope` (index = step), such as
  /// ``SweepSummary/pointwiseMinimum``: it is resampled, then made non-increasing.
  ///
  /// - Precondition: `envelope` has at least two steps.
  public init(envelope: [Float]) {
    precondition(envelope.count >= 2, "an envelope needs at least two steps")
    let horizon = Double(envelope.count - 1)
    let steps = (0..<Self.resolution).map { horizon * Double($0) / Double(Self.resolution - 1) }
    var resampled: [Float] = []
    for step in steps {
      let low = min(Int(step), envelope.count - 2)
      let fraction = Float(step - Double(low))
      let value = envelope[low] + fraction * (envelope[low + 1] - envelope[low])
      resampled.append(min(value, resampled.last ?? value))
    }
    self.losses = resampled
    self.steps = steps
    self.horizon = horizon
  }

  /// A normaliser over the lower envelope of a baseline's sweep, or `nil` when every learning
  /// rate diverged or the runs are shorter than two steps.
  ///
  /// The running minimum comes after the resampling, as in VeLO's normalisers
  /// (`baselines/normalizers.py`: `nanmin` over rates, `interp` at 512 points, then
  /// `minimum.accumulate`), so a dip between two resampled points is not carried forward.
  public init?(summary: SweepSummary) {
    let envelope = summary.pointwiseMinimum
    guard envelope.count >= 2 else { return nil }
    self.init(envelope: envelope)
  }

  /// `A(L)`: the steps the baseline needs to reach `loss` (see the type's description).
  public func stepsToReach(_ loss: Float) -> Double {
    guard loss.isFinite, let first = losses.first, loss < first else { return 0 }
    guard let last = losses.last, loss >= last else { return horizon }
    // The first resampled point at or below `loss`; the one before it is above.
    var index = 1
    while losses[index] > loss { index += 1 }
    let (above, below) = (Double(losses[index - 1]), Double(losses[index]))
    let fraction = above > below ? (above - Double(loss)) / (above - below) : 1
    return steps[index - 1] + fraction * (steps[index] - steps[index - 1])
  }

  /// The speedup of a run whose smoothed loss at its last step `lastStep` is `loss`:
  /// `A(loss) / lastStep` (0 when the loss is not finite).
  ///
  /// - Precondition: `lastStep > 0`.
  public func speedup(finalLoss loss: Float, lastStep: Int) -> Double {
    precondition(lastStep > 0, "a speedup needs a run of at least two steps")
    return stepsToReach(loss) / Double(lastStep)
  }
}
