import LoptCore

/// What one lane reports for an outer step: scalars only.
///
/// The meta-gradient is rebuilt from these and the run's seed (``MetaRandomness``), so this
/// is all a worker ever sends to the learner, O(1) per lane whatever the size of θ.
public struct LaneReport: Equatable, Sendable {
  /// The lane's index in the outer step.
  public var lane: Int
  /// The meta-objective of the θ + σε copy.
  public var plus: Float
  /// The meta-objective of the θ − σε copy.
  public var minus: Float
  /// The outer step at which the lane's current episode began (this step for FullES).
  public var episodeStart: Int
  /// Whether either copy stopped being finite; such a lane contributes nothing.
  public var diverged: Bool
  /// Inner training steps the lane ran (both copies together).
  public var innerSteps: Int

  /// Creates a report.
  public init(
    lane: Int, plus: Float, minus: Float, episodeStart: Int, diverged: Bool, innerSteps: Int
  ) {
    self.lane = lane
    self.plus = plus
    self.minus = minus
    self.episodeStart = episodeStart
    self.diverged = diverged
    self.innerSteps = innerSteps
  }

  /// The number of `Double`s in ``encoded``.
  public static let encodedCount = 6

  /// The report as six doubles (every field is exactly representable), for exchanges.
  public var encoded: [Double] {
    [
      Double(lane), Double(plus), Double(minus), Double(episodeStart), diverged ? 1 : 0,
      Double(innerSteps),
    ]
  }

  /// Decodes ``encoded``; `nil` for a padding slot (lane −1).
  public init?(encoded values: ArraySlice<Double>) {
    precondition(values.count == Self.encodedCount, "a lane report is \(Self.encodedCount) values")
    let v = Array(values)
    guard v[0] >= 0 else { return nil }
    self.init(
      lane: Int(v[0]), plus: Float(v[1]), minus: Float(v[2]), episodeStart: Int(v[3]),
      diverged: v[4] != 0, innerSteps: Int(v[5]))
  }
}
