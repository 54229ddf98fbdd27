import LoptOptimizers
import Testing

/// The factored-axes rule for every rank, against the reference's definition: `d₁, d₀` are the
/// last two entries of a stable ascending argsort of the extents.
@Suite struct FactoredShapeTests {
  /// `d₀` and `d₁` written as the definition reads: the largest extent, the latest such axis on
  /// ties; then the same among the remaining axes.
  static func expectedAxes(_ shape: [Int]) -> (row: Int, column: Int) {
    func largest(excluding skipped: Int?) -> Int {
      var best = -1
      for axis in shape.indices where axis != skipped {
        if best < 0 || shape[axis] >= shape[best] { best = axis }
      }
      return best
    }
    let row = largest(excluding: nil)
    return (row, largest(excluding: row))
  }

  /// Every shape of rank 0 to 5 with extents 1 to 3 (and a few real ones).
  static var shapes: [[Int]] {
    var all: [[Int]] = [[]]
    var current: [[Int]] = [[]]
    for _ in 1...5 {
      current = current.flatMap { shape in (1...3).map { shape + [$0] } }
      all += current
    }
    return all + [[784, 32], [10, 10], [3, 3, 16, 32], [16, 16, 3, 3], [1, 6], [2, 3, 5]]
  }

  @Test func followsTheStableArgsortRuleForEveryRank() {
    for shape in Self.shapes {
      guard let factored = FactoredShape(shape: shape) else {
        #expect(shape.count < 2, "\(shape) should be factored")
        continue
      }
      let expected = Self.expectedAxes(shape)
      #expect(factored.row == expected.row && factored.column == expected.column, "\(shape)")
      let (a, b) = (min(expected.row, expected.column), max(expected.row, expected.column))
      #expect(factored.rowAxisIsA == (expected.row == a), "\(shape)")
      #expect(factored.extentA == shape[a] && factored.extentB == shape[b], "\(shape)")
      #expect(
        [factored.outer, factored.middle, factored.inner]
          == [shape[..<a], shape[(a + 1)..<b], shape[(b + 1)...]].map { $0.reduce(1, *) },
        "\(shape)")
      var rowShape = shape
      rowShape.remove(at: expected.row)
      var columnShape = shape
      columnShape.remove(at: expected.column)
      #expect(
        factored.rowShape(of: shape) == rowShape && factored.columnShape(of: shape) == columnShape)
    }
  }

  @Test(arguments: [
    ([784, 32], 0, 1), ([10, 10], 1, 0), ([3, 3, 16, 32], 3, 2), ([3, 3, 16, 16], 3, 2),
    ([16, 16, 3, 3], 1, 0), ([3, 3, 2, 2], 1, 0), ([2, 3, 5], 2, 1), ([1, 6], 1, 0),
  ])
  func knownShapes(shape: [Int], row: Int, column: Int) throws {
    let factored = try #require(FactoredShape(shape: shape))
    #expect(factored.row == row && factored.column == column)
  }
}
