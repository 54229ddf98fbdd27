import Foundation

/// Mean softmax cross-entropy between logits `[rows…, classes]` and integer labels `[rows…]`,
/// with an optional per-row weight mask (padding tokens get weight 0).
///
/// ```
/// loss = Σᵢ mᵢ · (logsumexp(zᵢ) − zᵢ[yᵢ]) / Σᵢ mᵢ
/// ```
public struct SoftmaxCrossEntropyOperation: GraphOperation {
  /// The unnormalised log-probabilities.
  public let logits: GraphValue
  /// Class indices stored as `Float`.
  public let labels: GraphValue
  /// Per-row weights, or `nil` for all ones.
  public let mask: GraphValue?
  /// Scratch: the softmax probabilities, kept for the backward pass.
  public let probabilities: GraphValue
  /// The scalar loss.
  public let output: GraphValue

  private var classCount: Int { logits.shape.last! }
  private var rows: Int { logits.count / classCount }

  /// Forward: a numerically stable log-sum-exp per row, accumulated in `Double`.
  public func forward(_ context: GraphContext) {
    let z = context.pointer(logits)
    let y = context.pointer(labels)
    let p = context.pointer(probabilities)
    let m = mask.map { context.pointer($0) }
    var total = 0.0
    var weight = 0.0
    for row in 0..<rows {
      let zRow = z + row * classCount
      let pRow = p + row * classCount
      var maximum = -Float.infinity
      for j in 0..<classCount { maximum = max(maximum, zRow[j]) }
      var sum: Float = 0
      for j in 0..<classCount {
        pRow[j] = Foundation.exp(zRow[j] - maximum)
        sum += pRow[j]
      }
      let inverse = 1 / sum
      for j in 0..<classCount { pRow[j] *= inverse }
      let label = Int(y[row])
      assert(label >= 0 && label < classCount, "label \(label) outside 0..<\(classCount)")
      let rowWeight = Double(m?[row] ?? 1)
      total += rowWeight * Double(Foundation.log(sum) + maximum - zRow[label])
      weight += rowWeight
    }
    context.pointer(output)[0] = weight > 0 ? Float(total / weight) : 0
  }

  /// Backward: `dz += g · mᵢ · (pᵢ − onehot(yᵢ)) / Σ m`.
  public func backward(_ context: GraphContext) {
    guard let dz = context.gradient(logits), let g = context.gradient(output)?[0] else { return }
    let y = context.pointer(labels)
    let p = context.pointer(probabilities)
    let m = mask.map { context.pointer($0) }
    var weight: Float = 0
    if let m { for row in 0..<rows { weight += m[row] } } else { weight = Float(rows) }
    guard weight > 0 else { return }
    for row in 0..<rows {
      let scale = g * (m?[row] ?? 1) / weight
      let pRow = p + row * classCount
      let dzRow = dz + row * classCount
      for j in 0..<classCount { dzRow[j] += scale * pRow[j] }
      dzRow[Int(y[row])] -= scale
    }
  }
}

extension GraphBuilder {
  /// Appends the mean softmax cross-entropy of `logits` against `labels`, optionally weighted
  /// by `mask`; returns the scalar loss.
  public mutating func softmaxCrossEntropy(
    logits: GraphValue, labels: GraphValue, mask: GraphValue? = nil
  ) -> GraphValue {
    let rows = logits.count / logits.shape.last!
    guard check(labels.count == rows, "\(rows) rows of logits but \(labels.count) labels") else {
      return makeValue(shape: [1])
    }
    guard check(mask == nil || mask!.count == rows, "mask must have one weight per row") else {
      return makeValue(shape: [1])
    }
    let probabilities = makeValue(shape: logits.shape, hasGradient: false)
    let output = makeValue(shape: [1])
    append(
      SoftmaxCrossEntropyOperation(
        logits: logits, labels: labels, mask: mask, probabilities: probabilities, output: output))
    return output
  }
}
