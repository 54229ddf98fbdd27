import Foundation
import LoptCore
import LoptOptimizers
import LoptTestSupport
import Testing

@Suite struct NewtonSchulzTests {
  /// A deterministic full-rank `rows × columns` matrix (hashed values in [−0.5, 0.5)).
  static func matrix(rows: Int, columns: Int) -> [Float] {
    (0..<(rows * columns)).map { j in
      let x = sin(Double(j) * 12.9898 + 78.233) * 43758.5453
      return Float(x - x.rounded(.down) - 0.5)
    }
  }

  static func orthogonalized(_ x: [Float], rows: Int, columns: Int, steps: Int = 5) -> [Float] {
    var result = x
    var scratch = [Float](
      repeating: .nan, count: NewtonSchulz.scratchCount(rows: rows, columns: columns))
    result.withUnsafeMutableBufferPointer { buffer in
      scratch.withUnsafeMutableBufferPointer { work in
        NewtonSchulz(steps: steps).orthogonalize(
          buffer.baseAddress!, rows: rows, columns: columns, scratch: work.baseAddress!)
      }
    }
    return result
  }

  /// `X·Xᵀ` (wide) or `XᵀX` (tall) in Double: the Gram matrix of the short side.
  static func gram(_ x: [Float], rows: Int, columns: Int) -> [[Double]] {
    let side = min(rows, columns)
    func element(_ r: Int, _ c: Int) -> Double {
      rows > columns ? Double(x[c * columns + r]) : Double(x[r * columns + c])
    }
    let long = max(rows, columns)
    return (0..<side).map { i in
      (0..<side).map { j in (0..<long).reduce(0) { $0 + element(i, $1) * element(j, $1) } }
    }
  }

  @Test(arguments: [(3, 7), (7, 3), (16, 16), (40, 24)])
  func singularValuesEndNearOne(rows: Int, columns: Int) {
    let x = Self.orthogonalized(
      Self.matrix(rows: rows, columns: columns), rows: rows, columns: columns)
    let gram = Self.gram(x, rows: rows, columns: columns)
    // Five steps of Muon's coefficients leave singular values in about [0.7, 1.2]: the Gram
    // matrix's diagonal (sums of squared singular values along a basis) sits in [0.45, 1.45]
    // and it is far closer to the identity than the normalised input's.
    for i in gram.indices { #expect((0.45...1.45).contains(gram[i][i]), "diagonal \(gram[i][i])") }
    let trace = gram.indices.reduce(0) { $0 + gram[$1][$1] } / Double(gram.count)
    #expect(abs(trace - 1) < 0.3, "mean squared singular value \(trace)")
  }

  @Test func zeroStepsOnlyNormalises() {
    let x = Self.matrix(rows: 4, columns: 6)
    let y = Self.orthogonalized(x, rows: 4, columns: 6, steps: 0)
    let norm = x.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    expectClose(y, x.map { Float(Double($0) / norm) }, relativeTolerance: 1e-6)
  }

  @Test func aTransposedInputGivesTheTransposedOutput() {
    let (rows, columns) = (5, 9)
    let x = Self.matrix(rows: rows, columns: columns)
    let transposed = (0..<(rows * columns)).map { x[($0 % rows) * columns + $0 / rows] }
    let wide = Self.orthogonalized(x, rows: rows, columns: columns)
    let tall = Self.orthogonalized(transposed, rows: columns, columns: rows)
    let back = (0..<(rows * columns)).map { tall[($0 % columns) * rows + $0 / columns] }
    expectClose(back, wide, relativeTolerance: 1e-4, absoluteTolerance: 1e-6)
  }

  @Test func aZeroMatrixStaysZero() {
    #expect(
      Self.orthogonalized([Float](repeating: 0, count: 12), rows: 3, columns: 4)
        .allSatisfy { $0 == 0 })
  }
}
