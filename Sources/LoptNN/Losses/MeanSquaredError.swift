import Foundation

/// Mean squared error, optionally as the mean log of squared errors first averaged over one
/// axis (learned_optimization's MLP autoencoder with `log_loss`).
///
/// The elements are viewed as `[outer, axisCount, inner]`; `m[o, i]` is the mean of
/// `(prediction − target)²` over the middle axis, and
///
/// ```
/// loss = mean_{o,i} φ(m[o, i]),   φ(m) = m   or   φ(m) = ln(m + 1e-8) with `takesLogarithm`
/// ```
///
/// Without the logarithm the grouping does not matter and this is the plain mean over all
/// elements (one group).
public struct MeanSquaredErrorOperation: GraphOperation {
  /// The prediction.
  public let prediction: GraphValue
  /// The target, same element count; receives the opposite gradient if it carries one.
  public let target: GraphValue
  /// The `(outer, axisCount, inner)` split of the elements.
  public let grouping: (outer: Int, axisCount: Int, inner: Int)
  /// Whether each group mean passes through `ln(· + 1e-8)`.
  public let takesLogarithm: Bool
  /// Scratch `[outer · inner]`: the group means `m`, kept for backward.
  public let groupMeans: GraphValue
  /// The scalar loss.
  public let output: GraphValue

  /// The constant inside the logarithm.
  public static let logarithmOffset: Float = 1e-8

  private var groupCount: Int { grouping.outer * grouping.inner }

  /// Forward: group means of squared errors, accumulated in `Double`, then the mean of `φ`.
  public func forward(_ context: GraphContext) {
    let (p, y) = (context.pointer(prediction), context.pointer(target))
    let m = context.pointer(groupMeans)
    let (axisCount, inner) = (grouping.axisCount, grouping.inner)
    var total = 0.0
    for o in 0..<grouping.outer {
      for i in 0..<inner {
        var sum = 0.0
        for a in 0..<axisCount {
          let index = (o * axisCount + a) * inner + i
          let error = Double(p[index] - y[index])
          sum += error * error
        }
        let mean = Float(sum / Double(axisCount))
        m[o * inner + i] = mean
        total += Double(takesLogarithm ? Foundation.log(mean + Self.logarithmOffset) : mean)
      }
    }
    context.pointer(output)[0] = Float(total / Double(groupCount))
  }

  /// Backward: `dp += g · φ′(m) · 2(p − y) / (axisCount · groups)`, and `dy` the opposite.
  public func backward(_ context: GraphContext) {
    guard let g = context.gradient(output)?[0] else { return }
    let (dp, dy) = (context.gradient(prediction), context.gradient(target))
    if dp == nil && dy == nil { return }
    let (p, y) = (context.pointer(prediction), context.pointer(target))
    let m = context.pointer(groupMeans)
    let (axisCount, inner) = (grouping.axisCount, grouping.inner)
    let scale = 2 * g / Float(axisCount * groupCount)
    for o in 0..<grouping.outer {
      for i in 0..<inner {
        let mean = m[o * inner + i]
        let groupScale = takesLogarithm ? scale / (mean + Self.logarithmOffset) : scale
        for a in 0..<axisCount {
          let index = (o * axisCount + a) * inner + i
          let gradient = groupScale * (p[index] - y[index])
          dp?[index] += gradient
          dy?[index] -= gradient
        }
      }
    }
  }
}

extension GraphBuilder {
  /// Appends the mean squared error (``MeanSquaredErrorOperation``).
  ///
  /// - Parameters:
  ///   - prediction: the model output.
  ///   - target: the same number of elements as `prediction`.
  ///   - logOfMeanOverAxis: if set, the squared error is first averaged over this axis of
  ///     `prediction`, then `ln(· + 1e-8)` is applied and the result averaged over the rest
  ///     (VeLO's MLP autoencoder family uses axis 1, the image height of `[B, H, W, C]`).
  /// - Returns: the scalar loss.
  public mutating func meanSquaredError(
    _ prediction: GraphValue, target: GraphValue, logOfMeanOverAxis: Int? = nil
  ) -> GraphValue {
    guard
      check(
        prediction.count == target.count,
        "prediction \(prediction.shape) and target \(target.shape) differ in size")
    else { return makeValue(shape: [1]) }
    var grouping = (outer: 1, axisCount: prediction.count, inner: 1)
    if let axis = logOfMeanOverAxis {
      let shape = prediction.shape
      guard check(shape.indices.contains(axis), "axis \(axis) is outside shape \(shape)") else {
        return makeValue(shape: [1])
      }
      grouping = (
        shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *)
      )
    }
    let groupMeans = makeValue(shape: [grouping.outer * grouping.inner], hasGradient: false)
    let output = makeValue(shape: [1])
    append(
      MeanSquaredErrorOperation(
        prediction: prediction, target: target, grouping: grouping,
        takesLogarithm: logOfMeanOverAxis != nil, groupMeans: groupMeans, output: output))
    return output
  }
}
