import Foundation
import LoptCore

/// How long inner episodes are (docs/meta-training-method.md §3).
///
/// A length is drawn for every new episode (FullES: one per outer step, shared by its lanes)
/// from a key, and may depend on the outer step.
public struct TruncationSchedule: Codable, Equatable, Sendable {
  /// The schedules.
  public enum Kind: String, Codable, CaseIterable, Sendable {
    /// Always ``TruncationSchedule/length``.
    case constant
    /// `int(exp(U(ln minimum, ln maximum)))`, VeLO's choice (phase 1: 100 to 20,000).
    case logUniform = "log-uniform"
    /// Log-linear from ``TruncationSchedule/minimum`` at outer step 0 to
    /// ``TruncationSchedule/maximum`` at ``TruncationSchedule/rampSteps``, then constant,
    /// times `exp(jitter · N(0, 1))`.
    case scheduled
  }

  /// Which schedule.
  public var kind: Kind
  /// The length of ``Kind/constant``.
  public var length: Int
  /// The shortest length (log-uniform, scheduled).
  public var minimum: Int
  /// The longest length (log-uniform, scheduled).
  public var maximum: Int
  /// Outer steps over which ``Kind/scheduled`` grows from `minimum` to `maximum`.
  public var rampSteps: Int
  /// The standard deviation of ``Kind/scheduled``'s log-normal jitter (0: none).
  public var jitter: Double

  /// Creates a schedule; the default is log-uniform on [100, 1000) steps.
  public init(
    kind: Kind = .logUniform, length: Int = 200, minimum: Int = 100, maximum: Int = 1000,
    rampSteps: Int = 1000, jitter: Double = 0
  ) {
    self.kind = kind
    self.length = length
    self.minimum = minimum
    self.maximum = maximum
    self.rampSteps = rampSteps
    self.jitter = jitter
  }

  /// The problems with these settings; empty when usable.
  public var problems: [String] {
    switch kind {
    case .constant:
      return length >= 1 ? [] : ["truncation.length must be ≥ 1 (got \(length))"]
    case .logUniform, .scheduled:
      var problems: [String] = []
      if !(1 <= minimum && minimum <= maximum) {
        problems.append(
          "truncation needs 1 ≤ minimum ≤ maximum (got minimum \(minimum), maximum \(maximum))")
      }
      if kind == .scheduled && rampSteps < 1 {
        problems.append("truncation.rampSteps must be ≥ 1 (got \(rampSteps))")
      }
      if !(jitter >= 0) { problems.append("truncation.jitter must be ≥ 0 (got \(jitter))") }
      return problems
    }
  }

  /// The length of an episode started at `outerStep`, drawn with `key`; at least 1.
  public func length(outerStep: Int, key: RandomKey) -> Int {
    switch kind {
    case .constant:
      return length
    case .logUniform:
      let (low, high) = (log(Double(minimum)), log(Double(maximum)))
      let u = Double(key.uniform(at: 0))
      return max(1, Int(exp(low + (high - low) * u)))
    case .scheduled:
      let progress = min(1, Double(outerStep) / Double(rampSteps))
      let center = log(Double(minimum)) + (log(Double(maximum)) - log(Double(minimum))) * progress
      let value = exp(center + jitter * Double(key.normal(at: 0)))
      return max(minimum, Int(value))
    }
  }
}
