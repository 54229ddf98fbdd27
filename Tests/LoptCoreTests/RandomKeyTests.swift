import Foundation
import LoptCore
import Testing

@Suite struct RandomKeyTests {
  static let sampleCount = 100_000

  /// The mean and variance of `samples`, accumulated in `Double`.
  static func moments(_ samples: [Float]) -> (mean: Double, variance: Double) {
    let mean = samples.reduce(0) { $0 + Double($1) } / Double(samples.count)
    let variance =
      samples.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(samples.count)
    return (mean, variance)
  }

  /// `count` samples written by `fill`.
  static func samples(
    _ count: Int = sampleCount, _ fill: (UnsafeMutableBufferPointer<Float>) -> Void
  ) -> [Float] {
    var result = [Float](repeating: .nan, count: count)
    result.withUnsafeMutableBufferPointer { fill($0) }
    return result
  }

  @Test func seedRawValueAndCodableRoundTrip() throws {
    let key = RandomKey(seed: 0xDEAD_BEEF_0000_0042)
    #expect(key.rawValue == 0xDEAD_BEEF_0000_0042)
    #expect(RandomKey(words: key.words) == key)
    let decoded = try JSONDecoder().decode(RandomKey.self, from: JSONEncoder().encode(key))
    #expect(decoded == key)
  }

  @Test func splittingAndFoldingAreDeterministic() {
    let key = RandomKey(seed: 7)
    #expect(key.split() == key.split())
    #expect(key.split(into: 5) == key.split(into: 5))
    #expect(key.folding(in: 3) == RandomKey(seed: 7).folding(in: 3))
  }

  @Test func derivedKeysAreDistinct() {
    let key = RandomKey(seed: 7)
    let (left, right) = key.split()
    #expect(Set([key, left, right]).count == 3)
    var all = [key] + key.split(into: 64) + (0..<64).map { key.folding(in: $0) }
    all += RandomKey(seed: 8).split(into: 64)
    #expect(Set(all).count == all.count)
    #expect(Set(all.map { $0.bits(at: 0) }).count == all.count)
  }

  @Test func fillsRegenerateElementByElement() {
    let key = RandomKey(seed: 11)
    let offset = 13
    let uniform = Self.samples(50) { key.fillUniform($0, low: -2, high: 3, offset: offset) }
    let normal = Self.samples(50) {
      key.fillNormal($0, mean: 1, standardDeviation: 0.5, offset: offset)
    }
    let truncated = Self.samples(50) {
      key.fillTruncatedNormal($0, standardDeviation: 2, offset: offset)
    }
    for i in 0..<50 {
      #expect(uniform[i] == -2 + 5 * key.uniform(at: offset + i))
      #expect(normal[i] == 1 + 0.5 * key.normal(at: offset + i))
      let alone = Self.samples(1) {
        key.fillTruncatedNormal($0, standardDeviation: 2, offset: offset + i)
      }
      #expect(truncated[i] == alone[0])
    }
  }

  @Test func uniformIsInTheUnitIntervalAndFlat() {
    let samples = Self.samples { RandomKey(seed: 1).fillUniform($0) }
    #expect(samples.allSatisfy { $0 >= 0 && $0 < 1 })
    let (mean, variance) = Self.moments(samples)
    #expect(abs(mean - 0.5) < 0.005)
    #expect(abs(variance - 1.0 / 12) < 0.002)
    var bins = [Int](repeating: 0, count: 10)
    for x in samples { bins[Int(x * 10)] += 1 }
    // Each bin holds 10% ± 6 standard errors (σ ≈ 0.095%).
    #expect(bins.allSatisfy { abs(Double($0) / Double(samples.count) - 0.1) < 0.006 }, "\(bins)")
  }

  @Test func normalHasUnitMomentsAndTheRightShape() {
    let samples = Self.samples { RandomKey(seed: 2).fillNormal($0) }
    let (mean, variance) = Self.moments(samples)
    // Standard errors: mean 0.0032, variance 0.0045, P(|x| < 1) 0.0015, E[x⁴] 0.031.
    #expect(abs(mean) < 0.02)
    #expect(abs(variance - 1) < 0.03)
    let withinOne = Double(samples.filter { abs($0) < 1 }.count) / Double(samples.count)
    #expect(abs(withinOne - 0.682_689) < 0.01)
    let fourthMoment =
      samples.reduce(0) { $0 + pow(Double($1), 4) } / Double(samples.count)
    #expect(abs(fourthMoment - 3) < 0.2)
  }

  @Test func truncatedNormalStaysInBoundsWithTheRightVariance() {
    let standardDeviation: Float = 0.5
    let samples = Self.samples {
      RandomKey(seed: 3).fillTruncatedNormal($0, standardDeviation: standardDeviation)
    }
    #expect(samples.allSatisfy { abs($0) <= 2 * standardDeviation })
    let (mean, variance) = Self.moments(samples)
    // N(0, 1) truncated to [−2, 2] has variance 1 − 4φ(2) / (Φ(2) − Φ(−2)) ≈ 0.7737.
    #expect(abs(mean) < 0.015 * Double(standardDeviation))
    #expect(abs(variance / Double(standardDeviation * standardDeviation) - 0.7737) < 0.015)
  }

  @Test func integersStayBelowTheBoundAndCoverIt() {
    let key = RandomKey(seed: 4)
    let values = (0..<2000).map { key.integer(below: 7, at: $0) }
    #expect(values.allSatisfy { (0..<7).contains($0) })
    #expect(Set(values).count == 7)
  }

  @Test(arguments: [0, 1, 2, 10, 257])
  func permutationIsADeterministicPermutation(count: Int) {
    let key = RandomKey(seed: 5)
    let permutation = key.permutation(count)
    #expect(permutation.sorted() == Array(0..<count))
    #expect(key.permutation(count) == permutation)
    var filled = [Int32](repeating: -1, count: count)
    filled.withUnsafeMutableBufferPointer { key.fillPermutation($0) }
    #expect(filled.map(Int.init) == permutation)
  }

  @Test func differentKeysGiveDifferentPermutations() {
    let permutations = (0..<20).map { RandomKey(seed: $0).permutation(50) }
    #expect(Set(permutations).count == permutations.count)
    #expect(permutations.allSatisfy { $0 != Array(0..<50) })
  }
}
