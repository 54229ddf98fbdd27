/// Element-wise sum of two values of the same shape (residual connections).
public struct AddOperation: GraphOperation {
  /// The first summand.
  public let lhs: GraphValue
  /// The second summand.
  public let rhs: GraphValue
  /// `lhs + rhs`.
  public let output: GraphValue

  /// Forward: `out = lhs + rhs`.
  public func forward(_ context: GraphContext) {
    let a = context.pointer(lhs)
    let b = context.pointer(rhs)
    let y = context.pointer(output)
    for i in 0..<output.count { y[i] = a[i] + b[i] }
  }

  /// Backward: the output gradient flows unchanged into both summands.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    if let dx = context.gradient(lhs) { accumulate(dy, into: dx, count: output.count) }
    if let dx = context.gradient(rhs) { accumulate(dy, into: dx, count: output.count) }
  }
}

extension GraphBuilder {
  /// Appends `lhs + rhs` for two values of the same shape.
  public mutating func add(_ lhs: GraphValue, _ rhs: GraphValue) -> GraphValue {
    guard
      check(
        lhs.shape == rhs.shape, "add needs equal shapes, got \(lhs.shape) and \(rhs.shape)")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: lhs.shape)
    append(AddOperation(lhs: lhs, rhs: rhs, output: output))
    return output
  }
}
