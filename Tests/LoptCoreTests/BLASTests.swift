import LoptCore
import LoptTestSupport
import Testing

/// `m × n × k` sizes of a matrix product.
struct GemmSize: Sendable, CustomTestStringConvertible {
  let m: Int
  let n: Int
  let k: Int
  var testDescription: String { "\(m)×\(n)×\(k)" }
}

@Suite struct BLASTests {
  static let sizes = [
    GemmSize(m: 3, n: 5, k: 4), GemmSize(m: 1, n: 7, k: 2), GemmSize(m: 6, n: 1, k: 3),
    GemmSize(m: 4, n: 4, k: 1), GemmSize(m: 2, n: 3, k: 0), GemmSize(m: 0, n: 3, k: 2),
  ]

  /// Standard normal values from a fixed key.
  static func randomScalars(_ count: Int, seed: UInt64) -> [Float] {
    let key = RandomKey(seed: seed)
    return (0..<count).map { key.normal(at: $0) }
  }

  /// `C = alpha · op(A) · op(B) + beta · C` by the definition, in `Double`.
  static func naiveGemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int
  ) -> [Float] {
    var c = c
    for i in 0..<m {
      for j in 0..<n {
        var sum = 0.0
        for p in 0..<k {
          let aValue = transposeA ? a[p * lda + i] : a[i * lda + p]
          let bValue = transposeB ? b[j * ldb + p] : b[p * ldb + j]
          sum += Double(aValue) * Double(bValue)
        }
        let scaled = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
        c[i * ldc + j] = Float(Double(alpha) * sum + scaled)
      }
    }
    return c
  }

  /// Runs `BLAS.gemm` and the naive product on the same operands, with each leading dimension
  /// `padding` elements longer than its row.
  static func compareGemm(
    transposeA: Bool, transposeB: Bool, size: GemmSize, alpha: Float, beta: Float,
    padding: Int = 0, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let (m, n, k) = (size.m, size.n, size.k)
    let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
    let (bRows, bColumns) = transposeB ? (n, k) : (k, n)
    let (lda, ldb, ldc) = (aColumns + padding, bColumns + padding, n + padding)
    let a = randomScalars(aRows * lda, seed: 1)
    let b = randomScalars(bRows * ldb, seed: 2)
    let c = randomScalars(m * ldc, seed: 3)
    let expected = naiveGemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    var actual = c
    actual.withUnsafeMutableBufferPointer { cBuffer in
      BLAS.gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
        a: a, lda: padding > 0 ? lda : nil, b: b, ldb: padding > 0 ? ldb : nil,
        beta: beta, c: cBuffer.baseAddress!, ldc: padding > 0 ? ldc : nil)
    }
    // The padding columns of C are compared too: they must be left untouched.
    expectClose(
      actual, expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-5,
      sourceLocation: sourceLocation)
  }

  @Test(arguments: [false, true], [false, true])
  func gemmMatchesTheDefinition(transposeA: Bool, transposeB: Bool) {
    for size in Self.sizes {
      Self.compareGemm(
        transposeA: transposeA, transposeB: transposeB, size: size, alpha: 1, beta: 0)
      Self.compareGemm(
        transposeA: transposeA, transposeB: transposeB, size: size, alpha: -0.5, beta: 2)
    }
  }

  @Test(arguments: [false, true], [false, true])
  func gemmHonoursLeadingDimensions(transposeA: Bool, transposeB: Bool) {
    for size in Self.sizes {
      Self.compareGemm(
        transposeA: transposeA, transposeB: transposeB, size: size, alpha: 1.5, beta: 0.5,
        padding: 3)
    }
  }

  @Test func gemmWithEmptyInnerDimensionScalesC() {
    let a: [Float] = [1]
    var c: [Float] = [.nan, 1, 2, 3]
    c.withUnsafeMutableBufferPointer {
      BLAS.gemm(m: 2, n: 2, k: 0, a: a, b: a, beta: 0, c: $0.baseAddress!)
    }
    #expect(c == [0, 0, 0, 0])
    c = [1, 2, 3, 4]
    c.withUnsafeMutableBufferPointer {
      BLAS.gemm(m: 2, n: 2, k: 0, a: a, b: a, beta: 2, c: $0.baseAddress!)
    }
    #expect(c == [2, 4, 6, 8])
  }

  @Test(arguments: [false, true], [false, true])
  func batchedGemmMatchesOneGemmPerMatrix(transposeA: Bool, transposeB: Bool) {
    let (batchCount, m, n, k) = (3, 2, 4, 3)
    let a = Self.randomScalars(batchCount * m * k, seed: 4)
    let b = Self.randomScalars(batchCount * k * n, seed: 5)
    let c = Self.randomScalars(batchCount * m * n, seed: 6)
    var actual = c
    actual.withUnsafeMutableBufferPointer {
      BLAS.batchedGemm(
        transposeA: transposeA, transposeB: transposeB, batchCount: batchCount, m: m, n: n,
        k: k, alpha: 2, a: a, b: b, beta: -1, c: $0.baseAddress!)
    }
    var expected: [Float] = []
    for i in 0..<batchCount {
      expected += Self.naiveGemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 2,
        a: Array(a[(i * m * k)..<((i + 1) * m * k)]), lda: transposeA ? m : k,
        b: Array(b[(i * k * n)..<((i + 1) * k * n)]), ldb: transposeB ? k : n,
        beta: -1, c: Array(c[(i * m * n)..<((i + 1) * m * n)]), ldc: n)
    }
    expectClose(actual, expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
  }

  @Test(arguments: [false, true], [false, true])
  func matmulMatchesTheDefinition(transposeSelf: Bool, transposeOther: Bool) {
    let (m, n, k) = (3, 5, 4)
    let lhsShape = transposeSelf ? [k, m] : [m, k]
    let rhsShape = transposeOther ? [n, k] : [k, n]
    let lhs = Tensor(shape: lhsShape, scalars: Self.randomScalars(m * k, seed: 7))
    let rhs = Tensor(shape: rhsShape, scalars: Self.randomScalars(k * n, seed: 8))
    let product = lhs.matmul(rhs, transposeSelf: transposeSelf, transposeOther: transposeOther)
    let expected = Self.naiveGemm(
      transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k, alpha: 1,
      a: lhs.scalars, lda: lhsShape[1], b: rhs.scalars, ldb: rhsShape[1], beta: 0,
      c: [Float](repeating: 0, count: m * n), ldc: n)
    #expect(product.shape == [m, n])
    expectClose(product.scalars, expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
  }
}
