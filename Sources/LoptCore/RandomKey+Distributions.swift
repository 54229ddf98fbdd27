import Foundation

/// Samplers built on ``RandomKey``'s stream; element `i` of a fill depends only on the key and
/// `offset + i`, so any slice can be regenerated alone.
extension RandomKey {
  /// A uniform `Float` in `[0, 1)` with 24 random bits, element `index` of the stream.
  @inlinable
  public func uniform(at index: Int) -> Float {
    Float(bits(at: index) >> 8) * 0x1p-24
  }

  /// A standard normal sample, element `index` of the normal stream (Box–Muller in `Double`).
  ///
  /// Block `index / 4` of the stream gives four uniforms and so two Box–Muller pairs.
  public func normal(at index: Int) -> Float {
    let normals = Self.boxMuller(block(UInt64(index) >> 2))
    switch index & 3 {
    case 0: return normals.0
    case 1: return normals.1
    case 2: return normals.2
    default: return normals.3
    }
  }

  /// Fills `buffer` with uniform samples in `[low, high)`: element `i` is `uniform(at: offset + i)`.
  public func fillUniform(
    _ buffer: UnsafeMutableBufferPointer<Float>, low: Float = 0, high: Float = 1, offset: Int = 0
  ) {
    let scale = high - low
    forEachBlock(count: buffer.count, offset: offset) { indices, firstWord, words in
      withUnsafeBytes(of: words) { raw in
        for (k, i) in indices.enumerated() {
          let bits = raw.load(fromByteOffset: 4 * (firstWord + k), as: UInt32.self)
          buffer[i] = low + scale * (Float(bits >> 8) * 0x1p-24)
        }
      }
    }
  }

  /// Fills `buffer` with normal samples: element `i` is
  /// `mean + standardDeviation · normal(at: offset + i)`.
  public func fillNormal(
    _ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, standardDeviation: Float = 1,
    offset: Int = 0
  ) {
    forEachBlock(count: buffer.count, offset: offset) { indices, firstWord, words in
      withUnsafeBytes(of: Self.boxMuller(words)) { raw in
        for (k, i) in indices.enumerated() {
          let z = raw.load(fromByteOffset: 4 * (firstWord + k), as: Float.self)
          buffer[i] = mean + standardDeviation * z
        }
      }
    }
  }

  /// Calls `body` once for each Philox block covering stream elements `offset..<offset+count`,
  /// with the buffer indices it fills, the block word of the first of them, and the block.
  private func forEachBlock(
    count: Int, offset: Int,
    _ body: (Range<Int>, Int, (UInt32, UInt32, UInt32, UInt32)) -> Void
  ) {
    var element = offset
    let end = offset + count
    while element < end {
      let blockIndex = element >> 2
      let blockEnd = min((blockIndex + 1) << 2, end)
      body((element - offset)..<(blockEnd - offset), element & 3, block(UInt64(blockIndex)))
      element = blockEnd
    }
  }

  /// Four standard normals from one block: two Box–Muller pairs, computed in `Double`.
  private static func boxMuller(
    _ words: (UInt32, UInt32, UInt32, UInt32)
  ) -> (Float, Float, Float, Float) {
    func pair(_ a: UInt32, _ b: UInt32) -> (Float, Float) {
      let u1 = (Double(a) + 1) * 0x1p-32  // (0, 1]
      let u2 = Double(b) * 0x1p-32
      let radius = (-2 * Foundation.log(u1)).squareRoot()
      let angle = 2 * Double.pi * u2
      return (Float(radius * Foundation.cos(angle)), Float(radius * Foundation.sin(angle)))
    }
    let (z0, z1) = pair(words.0, words.1)
    let (z2, z3) = pair(words.2, words.3)
    return (z0, z1, z2, z3)
  }

  /// Fills `buffer` with normal samples truncated to `[lower, upper]` standard deviations,
  /// then scaled by `standardDeviation` (by inverting the normal CDF, as JAX does).
  public func fillTruncatedNormal(
    _ buffer: UnsafeMutableBufferPointer<Float>, standardDeviation: Float = 1,
    lower: Double = -2, upper: Double = 2, offset: Int = 0
  ) {
    precondition(lower < upper, "truncated normal needs lower < upper, got [\(lower), \(upper)]")
    let cdfLow = NormalDistribution.cdf(lower)
    let cdfHigh = NormalDistribution.cdf(upper)
    for i in 0..<buffer.count {
      let u = (Double(bits(at: offset + i)) + 0.5) * 0x1p-32  // (0, 1)
      let x = NormalDistribution.quantile(cdfLow + u * (cdfHigh - cdfLow))
      buffer[i] = standardDeviation * Float(min(max(x, lower), upper))
    }
  }

  /// A uniform integer in `0..<bound`, element `index` of the stream (multiply-shift; the bias
  /// is below `bound / 2³²`).
  @inlinable
  public func integer(below bound: Int, at index: Int) -> Int {
    precondition(bound > 0 && bound <= Int(UInt32.max), "integer bound \(bound) out of range")
    return Int((UInt64(bits(at: index)) &* UInt64(bound)) >> 32)
  }

  /// Writes a uniformly random permutation of `0..<buffer.count` into `buffer` (Fisher–Yates).
  ///
  /// - Complexity: O(n); allocates nothing.
  public func fillPermutation(_ buffer: UnsafeMutableBufferPointer<Int32>) {
    let n = buffer.count
    for i in 0..<n { buffer[i] = Int32(i) }
    guard n > 1 else { return }
    for i in stride(from: n - 1, through: 1, by: -1) {
      let j = integer(below: i + 1, at: n - 1 - i)
      buffer.swapAt(i, j)
    }
  }

  /// A uniformly random permutation of `0..<count`.
  public func permutation(_ count: Int) -> [Int] {
    var result = [Int32](repeating: 0, count: count)
    result.withUnsafeMutableBufferPointer { fillPermutation($0) }
    return result.map(Int.init)
  }
}

/// The standard normal distribution's CDF and quantile in `Double`.
enum NormalDistribution {
  static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

  /// Acklam's rational approximation refined by one Halley step (error below 1e-15).
  static func quantile(_ p: Double) -> Double {
    precondition(p > 0 && p < 1, "normal quantile needs p in (0, 1), got \(p)")
    let a = [
      -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00,
    ]
    let b = [
      -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01,
    ]
    let c = [
      -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00,
    ]
    let d = [
      7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00,
    ]
    let pLow = 0.02425
    var x: Double
    if p < pLow {
      let q = (-2 * log(p)).squareRoot()
      x =
        (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
        / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    } else if p <= 1 - pLow {
      let q = p - 0.5
      let r = q * q
      x =
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    } else {
      let q = (-2 * log(1 - p)).squareRoot()
      x =
        -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
        / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    }
    let e = cdf(x) - p
    let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
    x -= u / (1 + x * u / 2)
    return x
  }
}
