import CLoptKernels
import Foundation
import LoptCore
import Testing

/// ScheduledAdamLOpt's C passes against a plain Swift loop, on sizes around the vector width
/// and the 1024-element summation blocks, with guard elements past the end.
@Suite struct ScheduledAdamKernelTests {
  static let sizes = [0, 1, 7, 17, 1000, 4099]
  /// Elements past `count` that the kernels must leave alone.
  static let guardCount = 20
  static let sentinel: Float = 12345

  /// Random buffers of `count` elements (gradients σ 0.01, parameters σ 0.1, m σ 0.001,
  /// v = (σ 0.01)²), each followed by sentinels.
  static func buffers(_ count: Int, seed: UInt64) -> (
    g: [Float], p: [Float], m: [Float], v: [Float]
  ) {
    func normal(_ key: RandomKey, _ scale: Float) -> [Float] {
      var x = [Float](repeating: 0, count: count)
      x.withUnsafeMutableBufferPointer { key.fillNormal($0) }
      return x.map { $0 * scale } + [Float](repeating: sentinel, count: guardCount)
    }
    let keys = RandomKey(seed: seed).split(into: 4)
    let v = normal(keys[3], 0.01).map { $0 == sentinel ? $0 : $0 * $0 }
    return (normal(keys[0], 0.01), normal(keys[1], 0.1), normal(keys[2], 1e-3), v)
  }

  static func moments(epsilon: Float = 1e-8, step: Float = 3) -> LoptAdamMoments {
    LoptAdamMoments(
      beta1: 0.9, beta2: 0.999, epsilon: epsilon,
      firstCorrection: 1 / (1 - Foundation.pow(0.9, step)),
      secondCorrection: 1 / (1 - Foundation.pow(0.999, step)))
  }

  /// `a` and `b` agree to a few ulps of `scale` (the size of the terms they were summed from:
  /// FMA contraction in the kernels rounds cancelling sums differently).
  static func close(_ a: Float, _ b: Float, scale: Float) -> Bool {
    abs(a - b) <= 4e-6 * max(abs(a), abs(b), scale) + 1e-30
  }

  @Test(arguments: sizes)
  func momentsMatchAPlainLoop(count: Int) {
    let k = Self.moments()
    let (g, p, initialM, initialV) = Self.buffers(count, seed: UInt64(count) + 1)
    var (m, v) = (initialM, initialV)
    // The plain loop: the new moments in Float, the sums in Double.
    var expectedM = m
    var expectedV = v
    var scales = m
    var expectedSums = [Double](repeating: 0, count: 5)
    for i in 0..<count {
      let mi = k.beta1 * m[i] + (1 - k.beta1) * g[i]
      let vi = k.beta2 * v[i] + (1 - k.beta2) * g[i] * g[i]
      expectedM[i] = mi
      expectedV[i] = vi
      scales[i] = abs(k.beta1 * m[i]) + abs((1 - k.beta1) * g[i])
      let inverse = 1 / ((vi * k.secondCorrection).squareRoot() + k.epsilon)
      let d = mi * k.firstCorrection * inverse
      let u = g[i] * inverse
      for (s, x) in [g[i], p[i], mi, d, u].enumerated() { expectedSums[s] += Double(x * x) }
    }
    var sums = [Float](repeating: -1, count: 5)
    lopt_scheduled_adam_moments(g, p, &m, &v, count, k, &sums)
    for i in 0..<count + Self.guardCount {
      #expect(Self.close(m[i], expectedM[i], scale: scales[i]), "m[\(i)] of \(count)")
      #expect(Self.close(v[i], expectedV[i], scale: 0), "v[\(i)] of \(count)")
    }
    for s in 0..<5 {
      let (sum, expectedSum) = (Double(sums[s]), expectedSums[s])
      #expect(abs(sum - expectedSum) <= 1e-5 * expectedSum, "sum \(s) of \(count)")
    }
    if count == 0 { #expect(sums == [0, 0, 0, 0, 0]) }
  }

  @Test(arguments: sizes)
  func applyMatchesAPlainLoop(count: Int) {
    let k = Self.moments()
    let eta: Float = 0.003
    let (_, initialP, m, v) = Self.buffers(count, seed: UInt64(count) + 100)
    var p = initialP
    var expected = p
    var scales = p
    for i in 0..<count {
      let inverse = 1 / ((v[i] * k.secondCorrection).squareRoot() + k.epsilon)
      let step = eta * (m[i] * k.firstCorrection * inverse)
      expected[i] -= step
      scales[i] = abs(p[i]) + abs(step)
    }
    lopt_scheduled_adam_apply(&p, m, v, count, k, eta)
    for i in 0..<count + Self.guardCount {
      #expect(Self.close(p[i], expected[i], scale: scales[i]), "p[\(i)] of \(count)")
    }
  }

  /// With ε = 0 the zero-filled lanes of a partial vector would give 0/0; they add nothing.
  @Test func zeroEpsilonLeavesTheSumsFinite() {
    let (g, p, initialM, initialV) = Self.buffers(7, seed: 7)
    var (m, v) = (initialM, initialV)
    var sums = [Float](repeating: -1, count: 5)
    lopt_scheduled_adam_moments(g, p, &m, &v, 7, Self.moments(epsilon: 0), &sums)
    #expect(sums.allSatisfy { $0.isFinite && $0 > 0 })
  }
}
