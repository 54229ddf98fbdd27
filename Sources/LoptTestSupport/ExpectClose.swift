import LoptCore
import Testing

/// Expects two tensors to have the same shape and elements within
/// `|a − b| ≤ absoluteTolerance + relativeTolerance · |b|`; a failure names the worst index.
public func expectClose(
  _ actual: Tensor, _ expected: Tensor,
  relativeTolerance: Float = 1e-5, absoluteTolerance: Float = 1e-6,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.shape == expected.shape else {
    Issue.record(
      "shapes differ: \(actual.shape) vs expected \(expected.shape)", sourceLocation: sourceLocation
    )
    return
  }
  expectClose(
    actual.scalars, expected.scalars, relativeTolerance: relativeTolerance,
    absoluteTolerance: absoluteTolerance, sourceLocation: sourceLocation)
}

/// Expects two arrays to match element-wise within
/// `|a − b| ≤ absoluteTolerance + relativeTolerance · |b|`; a failure names the worst index.
public func expectClose(
  _ actual: [Float], _ expected: [Float],
  relativeTolerance: Float = 1e-5, absoluteTolerance: Float = 1e-6,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.count == expected.count else {
    Issue.record(
      "counts differ: \(actual.count) vs expected \(expected.count)", sourceLocation: sourceLocation
    )
    return
  }
  var worst: (index: Int, excess: Float)?
  for i in actual.indices {
    let limit = absoluteTolerance + relativeTolerance * abs(expected[i])
    let excess = abs(actual[i] - expected[i]) - limit
    if !(excess <= 0), excess > (worst?.excess ?? -.infinity) || excess.isNaN {
      worst = (i, excess)
    }
  }
  if let worst {
    Issue.record(
      "element \(worst.index): \(actual[worst.index]) vs expected \(expected[worst.index])",
      sourceLocation: sourceLocation)
  }
}
