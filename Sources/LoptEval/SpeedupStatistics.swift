import Foundation

/// Aggregates of per-task speedups, as VeLO reports them: mean, median, interquartile mean,
/// percentiles and the fraction of tasks where the optimizer beats the baseline.
public struct SpeedupStatistics: Codable, Equatable, Sendable {
  /// The number of tasks.
  public var count: Int
  /// The arithmetic mean.
  public var mean: Double
  /// The 50th percentile.
  public var median: Double
  /// The interquartile mean: the mean after dropping the lowest and highest ⌊n/4⌋ values
  /// (SciPy's `trim_mean(values, 0.25)`, as rliable computes it).
  public var interquartileMean: Double
  /// The 5th, 25th, 75th and 95th percentiles.
  public var percentile5, percentile25, percentile75, percentile95: Double
  /// The fraction of tasks with a speedup above 1 (faster than the baseline).
  public var fractionFaster: Double
  /// The geometric mean, each speedup floored at ``geometricMeanFloor`` (a diverged task's 0
  /// counts as the floor): unlike the median it falls when any one task gets slower (`nil` in
  /// records written before it existed).
  public var geometricMean: Double?

  /// The smallest speedup the geometric mean counts.
  public static let geometricMeanFloor = 0.01

  enum CodingKeys: String, CodingKey {
    case count, mean, median
    case interquartileMean = "iqm"
    case percentile5 = "p5"
    case percentile25 = "p25"
    case percentile75 = "p75"
    case percentile95 = "p95"
    case fractionFaster, geometricMean
  }

  /// The statistics of `values`, or `nil` when there are none.
  public init?(_ values: [Double]) {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    count = values.count
    mean = values.reduce(0, +) / Double(values.count)
    median = Self.percentile(50, of: sorted)
    percentile5 = Self.percentile(5, of: sorted)
    percentile25 = Self.percentile(25, of: sorted)
    percentile75 = Self.percentile(75, of: sorted)
    percentile95 = Self.percentile(95, of: sorted)
    let trimmed = sorted.count / 4
    let middle = sorted[trimmed..<(sorted.count - trimmed)]
    interquartileMean = middle.reduce(0, +) / Double(middle.count)
    fractionFaster = Double(values.filter { $0 > 1 }.count) / Double(values.count)
    geometricMean = Foundation.exp(
      values.reduce(0) { $0 + Foundation.log(max($1, Self.geometricMeanFloor)) }
        / Double(values.count))
  }

  /// The `p`-th percentile of ascending `sorted` values, interpolating linearly between
  /// neighbouring ranks (NumPy's default).
  ///
  /// - Precondition: `sorted` is not empty and `p` is in 0...100.
  public static func percentile(_ p: Double, of sorted: [Double]) -> Double {
    precondition(!sorted.isEmpty && (0...100).contains(p), "percentile \(p) of no values")
    let rank = p / 100 * Double(sorted.count - 1)
    let low = Int(rank.rounded(.down))
    let high = min(low + 1, sorted.count - 1)
    return sorted[low] + (rank - Double(low)) * (sorted[high] - sorted[low])
  }
}
