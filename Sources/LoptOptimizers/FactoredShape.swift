/// The two axes a tensor's second-moment statistics factor over (Adafactor's rule, which VeLO,
/// AdafacMLP and Lopt's Adafactor share), and the tensor seen around them.
///
/// The row axis `d₀` is the largest and the column axis `d₁` the second largest, by a stable
/// ascending sort of the extents: among equal extents the later axis counts as larger (the
/// reference sorts with `numpy.argsort`, pinned to a stable sort). Row statistics average over
/// `d₀`, column statistics over `d₁`. Around the two axes the tensor is
/// `[outer, extentA, middle, extentB, inner]`, where A is the earlier of them in storage order.
public struct FactoredShape: Sendable, Equatable {
  /// The row axis `d₀` (the largest).
  public let row: Int
  /// The column axis `d₁` (the second largest).
  public let column: Int
  /// The product of the extents before axis A.
  public let outer: Int
  /// The extent of axis A, the earlier factored axis.
  public let extentA: Int
  /// The product of the extents between A and B.
  public let middle: Int
  /// The extent of axis B, the later factored axis.
  public let extentB: Int
  /// The product of the extents after axis B.
  public let inner: Int

  /// The factored axes of `shape`, or `nil` below rank 2.
  public init?(shape: [Int]) {
    guard shape.count >= 2 else { return nil }
    let order = shape.indices.sorted { (shape[$0], $0) < (shape[$1], $1) }
    row = order[order.count - 1]
    column = order[order.count - 2]
    let (a, b) = (min(row, column), max(row, column))
    outer = shape[..<a].reduce(1, *)
    extentA = shape[a]
    middle = shape[(a + 1)..<b].reduce(1, *)
    extentB = shape[b]
    inner = shape[(b + 1)...].reduce(1, *)
  }

  /// Whether the row axis is A, the earlier of the two.
  public var rowAxisIsA: Bool { row < column }

  /// `shape` without the row axis: the shape of the row statistics.
  public func rowShape(of shape: [Int]) -> [Int] { removing(row, from: shape) }

  /// `shape` without the column axis: the shape of the column statistics.
  public func columnShape(of shape: [Int]) -> [Int] { removing(column, from: shape) }

  private func removing(_ axis: Int, from shape: [Int]) -> [Int] {
    var result = shape
    result.remove(at: axis)
    return result
  }
}
