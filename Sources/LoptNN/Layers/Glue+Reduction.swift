import RealModule

/// `destination[j] += scale · Σᵣ source[r·width + j]` for `j < width` (a relaxed-order sum
/// when `width` is 1).
func accumulateRowSum(
  _ source: UnsafePointer<Float>, rows: Int, width: Int, scale: Float = 1,
  into destination: UnsafeMutablePointer<Float>
) {
  if width == 1 {
    var sum: Float = 0
    for r in 0..<rows { sum = Relaxed.sum(sum, source[r]) }
    destination[0] += scale * sum
    return
  }
  for r in 0..<rows {
    let row = source + r * width
    for j in 0..<width { destination[j] += scale * row[j] }
  }
}

/// `destination[r·width + j] += scale · source[j]` for every row `r < rows`.
func accumulateBroadcast(
  _ source: UnsafePointer<Float>, rows: Int, width: Int, scale: Float = 1,
  into destination: UnsafeMutablePointer<Float>
) {
  for r in 0..<rows {
    let row = destination + r * width
    for j in 0..<width { row[j] += scale * source[j] }
  }
}

/// A scaled sum over a run of contiguous axes: the input viewed as `[outer, reduced, inner]`
/// becomes `[outer, inner]`.
///
/// ```
/// y[o, j] = scale · Σᵣ x[o, r, j]
/// ```
/// With `scale = 1 / reduced` it is a mean: a scalar loss (`outer = inner = 1`) or global mean
/// pooling (`[B, H·W, C]` → `[B, C]`).
public struct ReductionOperation: GraphOperation {
  /// The input, `outer · reducedCount · innerCount` elements.
  public let input: GraphValue
  /// The output, `outer · innerCount` elements.
  public let output: GraphValue
  /// The length of the summed axis run.
  public let reducedCount: Int
  /// The number of elements after the summed axes.
  public let innerCount: Int
  /// The factor applied to every sum (1 for a sum, `1 / reducedCount` for a mean).
  public let scale: Float

  /// Forward: `y[o, j] = scale · Σᵣ x[o, r, j]`.
  public func forward(_ context: GraphContext) {
    let x = context.pointer(input)
    let y = context.pointer(output)
    let block = reducedCount * innerCount
    y.update(repeating: 0, count: output.count)
    for o in 0..<(output.count / innerCount) {
      accumulateRowSum(
        x + o * block, rows: reducedCount, width: innerCount, scale: scale,
        into: y + o * innerCount)
    }
  }

  /// Backward: `dx[o, r, j] += scale · dy[o, j]`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    let block = reducedCount * innerCount
    for o in 0..<(output.count / innerCount) {
      accumulateBroadcast(
        dy + o * innerCount, rows: reducedCount, width: innerCount, scale: scale,
        into: dx + o * block)
    }
  }
}

extension GraphBuilder {
  /// Appends the sum over the contiguous axes `axes`, or over every element (a one-element
  /// value `[1]`, usable as a loss) when `axes` is `nil`; the summed axes are removed.
  public mutating func sum(_ input: GraphValue, axes: Range<Int>? = nil) -> GraphValue {
    reduce(input, axes: axes, isMean: false)
  }

  /// Appends the mean over the contiguous axes `axes`, or over every element (a one-element
  /// value `[1]`, usable as a loss) when `axes` is `nil`; the averaged axes are removed.
  public mutating func mean(_ input: GraphValue, axes: Range<Int>? = nil) -> GraphValue {
    reduce(input, axes: axes, isMean: true)
  }

  private mutating func reduce(
    _ input: GraphValue, axes: Range<Int>?, isMean: Bool
  ) -> GraphValue {
    let axes = axes ?? 0..<input.shape.count
    guard
      check(
        axes.lowerBound >= 0 && axes.upperBound <= input.shape.count && !axes.isEmpty,
        "cannot reduce axes \(axes) of a value of shape \(input.shape)")
    else { return makeValue(shape: [1]) }
    let reducedCount = input.shape[axes].reduce(1, *)
    let outputShape = Array(input.shape[..<axes.lowerBound] + input.shape[axes.upperBound...])
    let output = makeValue(shape: outputShape.isEmpty ? [1] : outputShape)
    append(
      ReductionOperation(
        input: input, output: output, reducedCount: reducedCount,
        innerCount: input.shape[axes.upperBound...].reduce(1, *),
        scale: isMean ? 1 / Float(reducedCount) : 1))
    return output
  }
}
