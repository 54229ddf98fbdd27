import LoptCore

/// Inverted dropout: in training mode each element is kept with probability `1 − rate` and
/// scaled by `1 / (1 − rate)`; in evaluation mode the op is the identity.
///
/// ```
/// mᵢ = uᵢ ≥ rate ? 1 / (1 − rate) : 0,   y = m · x
/// ```
/// `uᵢ` is element `i` of the uniform stream of `context.key.folding(in: salt)`, so the mask is
/// the same in the forward and backward pass and in repeated forwards with one step key.
public struct DropoutOperation: GraphOperation {
  /// The probability of dropping an element, in `[0, 1)`.
  public let rate: Float
  /// The input.
  public let input: GraphValue
  /// Scratch: the mask `m` of the last training-mode forward pass.
  public let mask: GraphValue
  /// The output, same shape.
  public let output: GraphValue
  /// What this op folds into the step key (fixed at build time, unique within the graph).
  public let salt: UInt64

  /// Forward: `y = m · x` in training mode, `y = x` otherwise.
  public func forward(_ context: GraphContext) {
    let x = context.pointer(input)
    let y = context.pointer(output)
    guard context.isTraining else {
      y.update(from: x, count: output.count)
      return
    }
    let m = context.pointer(mask)
    let key = context.key.folding(in: salt)
    let keep = 1 / (1 - rate)
    for i in 0..<output.count {
      m[i] = key.uniform(at: i) >= rate ? keep : 0
      y[i] = m[i] * x[i]
    }
  }

  /// Backward (training mode, which ``Graph/lossAndGradient(_:into:key:)`` always uses):
  /// `dx += m · dy`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    let m = context.pointer(mask)
    for i in 0..<output.count { dx[i] += m[i] * dy[i] }
  }
}

extension GraphBuilder {
  /// Appends dropout with the given drop probability; a rate of 0 returns `input` unchanged.
  public mutating func dropout(_ input: GraphValue, rate: Float) -> GraphValue {
    guard check(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)") else {
      return makeValue(shape: [1])
    }
    if rate == 0 { return input }
    let mask = makeValue(shape: input.shape, hasGradient: false)
    let output = makeValue(shape: input.shape)
    append(
      DropoutOperation(
        rate: rate, input: input, mask: mask, output: output, salt: UInt64(output.offset)))
    return output
  }
}
