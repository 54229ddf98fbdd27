import LoptCore
import LoptNN
import Testing

@Suite struct InitializerTests {
  private static func draw(_ initializer: Initializer, shape: [Int], seed: UInt64 = 1) -> [Float] {
    var tensor = Tensor(shape: shape)
    tensor.withUnsafeMutableBufferPointer {
      initializer.fill($0, shape: shape, key: RandomKey(seed: seed))
    }
    return tensor.scalars
  }

  private static func variance(_ values: [Float]) -> Double {
    let mean = values.reduce(0) { $0 + Double($1) } / Double(values.count)
    return values.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
      / Double(values.count)
  }

  @Test func fansFollowTheJAXConvention() {
    #expect(Initializer.fans(of: [784, 32]) == (784, 32))
    // A 3 × 3 convolution from 16 to 8 channels: receptive field 9.
    #expect(Initializer.fans(of: [3, 3, 16, 8]) == (144, 72))
    #expect(Initializer.fans(of: [7]) == (7, 7))
    #expect(Initializer.fans(of: []) == (1, 1))
  }

  /// 9216 draws from a `[3, 3, 16, 64]` kernel: fan-in 144, fan-out 576, average 360.
  @Test(
    arguments: [Initializer.Distribution.truncatedNormal, .normal, .uniform],
    [(Initializer.FanMode.fanIn, 144 as Double), (.fanOut, 576), (.fanAverage, 360)])
  func varianceScalingHasTheRequestedVariance(
    distribution: Initializer.Distribution, fan: (mode: Initializer.FanMode, size: Double)
  ) {
    let initializer = Initializer.varianceScaling(
      scale: 2, mode: fan.mode, distribution: distribution)
    let expected = 2 / fan.size
    let actual = Self.variance(Self.draw(initializer, shape: [3, 3, 16, 64]))
    // The standard error of the sample variance is below 1.5 % here.
    #expect(abs(actual / expected - 1) < 0.06, "\(distribution) \(fan): \(actual) vs \(expected)")
  }

  @Test func glorotUniformStaysWithinItsLimit() {
    // [64, 192]: fan-average 128, so the limit is sqrt(3 / 128).
    let values = Self.draw(.glorotUniform, shape: [64, 192])
    let limit = Float((3.0 / 128).squareRoot())
    #expect(values.allSatisfy { abs($0) <= limit })
    #expect(values.contains { $0 > 0.98 * limit } && values.contains { $0 < -0.98 * limit })
  }

  @Test func truncatedNormalStaysWithinTwoStandardDeviations() {
    let values = Self.draw(.truncatedNormal(standardDeviation: 0.5), shape: [4096])
    #expect(values.allSatisfy { abs($0) <= 1 })
    #expect(values.contains { $0 > 0.95 } && values.contains { $0 < -0.95 })
    // The ±2σ truncated unit normal has variance 0.774.
    #expect(abs(Self.variance(values) / (0.25 * 0.773_741) - 1) < 0.06)
    // Variance scaling rescales the truncated draw, so its bound is 2σ / 0.8796.
    let he = Self.draw(.heNormal, shape: [64, 64])
    let bound = Float(2 * (2.0 / 64).squareRoot() / 0.879_625_66)
    #expect(he.allSatisfy { abs($0) <= bound * 1.000_01 })
    #expect(he.contains { abs($0) > 0.95 * bound })
  }

  /// Largest |(AᵀA − gain² · I)ᵢⱼ| for a row-major `rows × columns` matrix, or of `AAᵀ` when
  /// `rowsOrthonormal`.
  private static func orthogonalityError(
    _ a: [Float], rows: Int, columns: Int, rowsOrthonormal: Bool, gain: Float
  ) -> Double {
    let (vectors, length) = rowsOrthonormal ? (rows, columns) : (columns, rows)
    func element(_ v: Int, _ i: Int) -> Double {
      Double(rowsOrthonormal ? a[v * columns + i] : a[i * columns + v])
    }
    var worst = 0.0
    for u in 0..<vectors {
      for v in 0..<vectors {
        var dot = 0.0
        for i in 0..<length { dot += element(u, i) * element(v, i) }
        worst = max(worst, abs(dot - (u == v ? Double(gain * gain) : 0)))
      }
    }
    return worst
  }

  @Test(arguments: [[12, 5], [5, 12], [2, 2, 3, 4], [6, 6]])
  func orthogonalGivesOrthonormalColumnsOrRows(shape: [Int]) {
    let gain: Float = 1.5
    let values = Self.draw(.orthogonal(gain: gain), shape: shape)
    let columns = shape.last!
    let rows = values.count / columns
    // Tall (and square): QᵀQ = gain² I; wide: QQᵀ = gain² I.
    let error = Self.orthogonalityError(
      values, rows: rows, columns: columns, rowsOrthonormal: rows < columns, gain: gain)
    #expect(error < 1e-5, "\(shape): \(error)")
  }

  @Test func drawsDependOnlyOnTheKey() {
    #expect(Self.draw(.lecunNormal, shape: [8, 8]) == Self.draw(.lecunNormal, shape: [8, 8]))
    #expect(
      Self.draw(.lecunNormal, shape: [8, 8]) != Self.draw(.lecunNormal, shape: [8, 8], seed: 2))
  }
}
