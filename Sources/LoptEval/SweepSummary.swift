/// What a learning-rate sweep found (docs/evaluation-metric.md §3.1): per learning rate the
/// seed-averaged,
/// EMA-smoothed loss curve, the best learning rate and the lower envelope over rates.
public struct SweepSummary: Sendable {
  /// One learning rate's result.
  public struct Point: Sendable, Equatable {
    /// The learning rate.
    public var learningRate: Float
    /// The seed-averaged training loss smoothed with ``SweepSummary/smoothing``; empty when
    /// any seed diverged.
    public var smoothedLosses: [Float]
    /// The seeds whose run diverged.
    public var divergedSeeds: [UInt64]
    /// The seed-averaged final accuracy, when every seed's run recorded one (classifiers).
    public var accuracy: Float? = nil

    /// The last smoothed loss, or `nil` when a seed diverged.
    public var finalLoss: Float? { smoothedLosses.last }
  }

  /// The EMA factor α of `s ← α·s + (1 − α)·x` (the first value is kept), as VeLO uses.
  public static let smoothing: Float = 0.95

  /// One point per learning rate, in the sweep's order.
  public let points: [Point]

  /// Groups `records` by learning rate, averages over seeds and smooths.
  public init(records: [RunRecord]) {
    var order: [Float] = []
    var groups: [Float: [RunRecord]] = [:]
    for record in records {
      if groups[record.key.learningRate] == nil { order.append(record.key.learningRate) }
      groups[record.key.learningRate, default: []].append(record)
    }
    points = order.map { lr in
      let runs = groups[lr]!
      let diverged = runs.filter(\.hasDiverged).map(\.key.seed)
      guard diverged.isEmpty, let count = runs.map(\.losses.count).min(), count > 0 else {
        return Point(learningRate: lr, smoothedLosses: [], divergedSeeds: diverged)
      }
      let mean = (0..<count).map { step in
        runs.reduce(Float(0)) { $0 + $1.losses[step] } / Float(runs.count)
      }
      let accuracies = runs.compactMap(\.accuracy)
      return Point(
        learningRate: lr, smoothedLosses: Self.exponentialMovingAverage(mean),
        divergedSeeds: diverged,
        accuracy: accuracies.count == runs.count
          ? accuracies.reduce(0, +) / Float(accuracies.count) : nil)
    }
  }

  /// `s₀ = x₀`, `sₜ = α·sₜ₋₁ + (1 − α)·xₜ` with α = ``smoothing``.
  public static func exponentialMovingAverage(_ values: [Float]) -> [Float] {
    var result: [Float] = []
    result.reserveCapacity(values.count)
    for value in values {
      result.append(result.last.map { smoothing * $0 + (1 - smoothing) * value } ?? value)
    }
    return result
  }

  /// The point with the lowest final smoothed loss, or `nil` when every rate diverged.
  public var best: Point? {
    points.filter { $0.finalLoss != nil }.min { $0.finalLoss! < $1.finalLoss! }
  }

  /// The pointwise minimum over rates of the smoothed curves, made non-increasing with a
  /// running minimum: "the optimizer with the best learning rate for every budget".
  public var lowerEnvelope: [Float] {
    var envelope: [Float] = []
    for lowest in pointwiseMinimum {
      envelope.append(min(lowest, envelope.last ?? lowest))
    }
    return envelope
  }

  /// The pointwise minimum over rates of the smoothed curves (no running minimum), up to the
  /// shortest curve: what ``SpeedupNormalizer`` resamples (LO's `nanmin` of the EMA'd curves).
  public var pointwiseMinimum: [Float] {
    let curves = points.map(\.smoothedLosses).filter { !$0.isEmpty }
    guard let length = curves.map(\.count).min() else { return [] }
    return (0..<length).map { step in curves.map { $0[step] }.min()! }
  }
}
