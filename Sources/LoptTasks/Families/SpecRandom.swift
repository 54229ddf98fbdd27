import Foundation
import LoptCore

/// VeLO's sampling helpers (docs/meta-training-method.md §9.1, `parametric_utils.py`) over one
/// key's stream: draw `k` is element `k` of the key's uniform stream.
struct SpecRandom {
  let key: RandomKey
  private var index = 0

  init(key: RandomKey) {
    self.key = key
  }

  /// U(0, 1).
  mutating func uniform() -> Double {
    defer { index += 1 }
    return Double(key.uniform(at: index))
  }

  /// U(low, high).
  mutating func uniform(_ low: Double, _ high: Double) -> Double {
    low + (high - low) * uniform()
  }

  /// `log_float(a, b) = exp(U(ln a, ln b))`.
  mutating func logFloat(_ a: Double, _ b: Double) -> Double {
    exp(uniform(log(a), log(b)))
  }

  /// `log_int(a, b) = int(exp(U(ln a, ln b)))`, so `b` is effectively exclusive.
  mutating func logInt(_ a: Int, _ b: Int) -> Int {
    min(Int(logFloat(Double(a), Double(b))), b - 1)
  }

  /// A uniform integer in `range`.
  mutating func integer(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + min(Int(uniform() * Double(range.count)), range.count - 1)
  }

  /// A uniform element.
  mutating func choice<T>(_ values: [T]) -> T { values[integer(0...(values.count - 1))] }

  /// True with probability `p`.
  mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }
}
