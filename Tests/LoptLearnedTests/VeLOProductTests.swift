import CLoptKernels
import LoptCore
import Testing

/// `lopt_velo_gemm`, VeLO's tensor-level product, against a double-precision reference on every
/// path: one row, a few rows, many rows; widths that are and are not multiples of a vector;
/// depths across block boundaries; a leading dimension wider than the row.
@Suite struct VeLOProductTests {
  @Test(arguments: [
    (m: 1, n: 2048, k: 130), (m: 1, n: 7, k: 3), (m: 2, n: 33, k: 65), (m: 3, n: 512, k: 30),
    (m: 4, n: 17, k: 257), (m: 5, n: 159, k: 9), (m: 8, n: 64, k: 64), (m: 13, n: 100, k: 300),
    (m: 25, n: 256, k: 512), (m: 31, n: 3, k: 256), (m: 9, n: 1, k: 1), (m: 6, n: 48, k: 1030),
  ])
  func productMatchesTheReference(_ shape: (m: Int, n: Int, k: Int)) {
    let (m, n, k) = shape
    let ldc = n + 5
    let alpha: Float = 0.75
    var a = [Float](repeating: 0, count: m * k)
    var b = [Float](repeating: 0, count: k * n)
    var c = [Float](repeating: 0, count: m * ldc)
    a.withUnsafeMutableBufferPointer { RandomKey(seed: 1).fillNormal($0, standardDeviation: 1) }
    b.withUnsafeMutableBufferPointer { RandomKey(seed: 2).fillNormal($0, standardDeviation: 1) }
    c.withUnsafeMutableBufferPointer { RandomKey(seed: 3).fillNormal($0, standardDeviation: 1) }
    let before = c
    lopt_velo_gemm(m, n, k, alpha, a, k, b, n, &c, ldc)
    var worst = 0.0
    for i in 0..<m {
      for j in 0..<ldc {
        guard j < n else {
          #expect(c[i * ldc + j] == before[i * ldc + j], "padding at row \(i) column \(j) changed")
          continue
        }
        var exact = Double(before[i * ldc + j])
        var scale = abs(exact)
        for l in 0..<k {
          let term = Double(alpha) * Double(a[i * k + l]) * Double(b[l * n + j])
          exact += term
          scale += abs(term)
        }
        worst = max(worst, abs(Double(c[i * ldc + j]) - exact) / scale)
      }
    }
    #expect(worst <= 1e-5, "worst relative error \(worst) for m \(m), n \(n), k \(k)")
  }
}
