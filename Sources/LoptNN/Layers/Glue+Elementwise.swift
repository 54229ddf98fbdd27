/// A tensor an operation reads: a graph value or a trainable parameter.
public enum GraphOperand: Hashable, Sendable {
  /// An activation, input or other value of the tape.
  case value(GraphValue)
  /// A trainable tensor (a position embedding, a class token).
  case parameter(GraphParameter)

  /// The tensor's shape.
  public var shape: [Int] {
    switch self {
    case .value(let value): value.shape
    case .parameter(let parameter): parameter.shape
    }
  }
}

extension GraphContext {
  /// The elements of an operand.
  @inlinable
  public func pointer(_ operand: GraphOperand) -> UnsafePointer<Float> {
    switch operand {
    case .value(let value): UnsafePointer(pointer(value))
    case .parameter(let parameter): pointer(parameter)
    }
  }

  /// The gradient of an operand, or `nil` if it carries none.
  @inlinable
  public func gradient(_ operand: GraphOperand) -> UnsafeMutablePointer<Float>? {
    switch operand {
    case .value(let value): gradient(value)
    case .parameter(let parameter): gradient(parameter)
    }
  }
}

/// The element-wise sum or product of two values of the same shape (residual connections,
/// gates, masks).
public struct BinaryOperation: GraphOperation {
  /// Which combination of the two operands.
  public enum Kind: Sendable, Hashable {
    /// `lhs + rhs`.
    case add
    /// `lhs · rhs`.
    case multiply
  }

  /// The combination.
  public let kind: Kind
  /// The first operand.
  public let lhs: GraphValue
  /// The second operand.
  public let rhs: GraphValue
  /// The result, same shape.
  public let output: GraphValue

  /// Forward: `y = a + b` or `y = a · b`.
  public func forward(_ context: GraphContext) {
    let a = context.pointer(lhs)
    let b = context.pointer(rhs)
    let y = context.pointer(output)
    switch kind {
    case .add: for i in 0..<output.count { y[i] = a[i] + b[i] }
    case .multiply: for i in 0..<output.count { y[i] = a[i] * b[i] }
    }
  }

  /// Backward: `da += dy`, `db += dy` for a sum; `da += dy · b`, `db += dy · a` for a product.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let a = context.pointer(lhs)
    let b = context.pointer(rhs)
    switch kind {
    case .add:
      if let da = context.gradient(lhs) { accumulate(dy, into: da, count: output.count) }
      if let db = context.gradient(rhs) { accumulate(dy, into: db, count: output.count) }
    case .multiply:
      if let da = context.gradient(lhs) { for i in 0..<output.count { da[i] += dy[i] * b[i] } }
      if let db = context.gradient(rhs) { for i in 0..<output.count { db[i] += dy[i] * a[i] } }
    }
  }
}

/// A fixed element-wise map with a build-time constant, applied by ``PointwiseOperation``.
public enum PointwiseFunction: Sendable, Hashable {
  /// `factor · x`.
  case scale(Float)
  /// `min(max(x, lower), upper)`; the derivative is 1 on the closed range and 0 outside.
  case clip(ClosedRange<Float>)
}

/// Applies a ``PointwiseFunction`` element-wise.
public struct PointwiseOperation: GraphOperation {
  /// The map.
  public let function: PointwiseFunction
  /// The argument.
  public let input: GraphValue
  /// `function(input)`, same shape.
  public let output: GraphValue

  /// Forward: `y = f(x)`.
  public func forward(_ context: GraphContext) {
    let x = context.pointer(input)
    let y = context.pointer(output)
    switch function {
    case .scale(let factor): for i in 0..<input.count { y[i] = factor * x[i] }
    case .clip(let range):
      for i in 0..<input.count { y[i] = min(max(x[i], range.lowerBound), range.upperBound) }
    }
  }

  /// Backward: `dx += f′(x) · dy`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    let x = context.pointer(input)
    switch function {
    case .scale(let factor): for i in 0..<input.count { dx[i] += factor * dy[i] }
    case .clip(let range): for i in 0..<input.count where range.contains(x[i]) { dx[i] += dy[i] }
    }
  }
}

/// Adds (or tiles) a tensor over the leading axes of a value: position embeddings, class tokens.
///
/// ```
/// y[r, j] = x[r, j] + a[j]     (x absent: y[r, j] = a[j])
/// ```
/// where `j` runs over the addend's elements and `r` over the leading axes.
public struct BroadcastAddOperation: GraphOperation {
  /// The value added to, or `nil` to tile the addend alone.
  public let input: GraphValue?
  /// The tensor of the output's trailing shape.
  public let addend: GraphOperand
  /// The output `[leading…, addend shape…]`.
  public let output: GraphValue

  private var width: Int { addend.shape.reduce(1, *) }

  /// Forward: `y = x + a` with `a` repeated over the leading axes.
  public func forward(_ context: GraphContext) {
    let y = context.pointer(output)
    if let input {
      y.update(from: context.pointer(input), count: output.count)
    } else {
      y.update(repeating: 0, count: output.count)
    }
    accumulateBroadcast(
      context.pointer(addend), rows: output.count / width, width: width, into: y)
  }

  /// Backward: `dx += dy`, `da += Σ_rows dy`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    if let input, let dx = context.gradient(input) {
      accumulate(dy, into: dx, count: output.count)
    }
    if let da = context.gradient(addend) {
      accumulateRowSum(dy, rows: output.count / width, width: width, into: da)
    }
  }
}

extension GraphBuilder {
  /// Appends the element-wise product `lhs · rhs` of two values of the same shape.
  public mutating func multiply(_ lhs: GraphValue, _ rhs: GraphValue) -> GraphValue {
    binary(.multiply, lhs, rhs)
  }

  /// Appends `lhs + rhs` for two values of the same shape.
  public mutating func add(_ lhs: GraphValue, _ rhs: GraphValue) -> GraphValue {
    binary(.add, lhs, rhs)
  }

  private mutating func binary(
    _ kind: BinaryOperation.Kind, _ lhs: GraphValue, _ rhs: GraphValue
  ) -> GraphValue {
    guard
      check(lhs.shape == rhs.shape, "\(kind) needs equal shapes, got \(lhs.shape) and \(rhs.shape)")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: lhs.shape)
    append(BinaryOperation(kind: kind, lhs: lhs, rhs: rhs, output: output))
    return output
  }

  /// Appends `factor · input`.
  public mutating func scale(_ input: GraphValue, by factor: Float) -> GraphValue {
    pointwise(.scale(factor), input)
  }

  /// Appends `input` clipped to `range`; the gradient is zero where the input lies outside.
  ///
  /// A VAE, for example, clips its decoder's log standard deviation with `clip(s, to: -10...10)`.
  public mutating func clip(_ input: GraphValue, to range: ClosedRange<Float>) -> GraphValue {
    pointwise(.clip(range), input)
  }

  /// Appends `input + addend`, with `addend` (a value or parameter whose shape is the trailing
  /// part of the input's) repeated over the leading axes.
  public mutating func broadcastAdd(_ input: GraphValue, _ addend: GraphOperand) -> GraphValue {
    guard
      check(
        input.shape.count >= addend.shape.count
          && Array(input.shape.suffix(addend.shape.count)) == addend.shape,
        "cannot broadcast \(addend.shape) against \(input.shape)")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: input.shape)
    append(BroadcastAddOperation(input: input, addend: addend, output: output))
    return output
  }

  /// Appends `operand` tiled to `shape`, whose trailing part must be the operand's shape; for
  /// example a class token `[1, D]` repeated to `[B, 1, D]`.
  public mutating func broadcast(_ operand: GraphOperand, to shape: [Int]) -> GraphValue {
    guard
      check(
        shape.count >= operand.shape.count
          && Array(shape.suffix(operand.shape.count)) == operand.shape,
        "cannot broadcast \(operand.shape) to \(shape)")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: shape)
    append(BroadcastAddOperation(input: nil, addend: operand, output: output))
    return output
  }

  private mutating func pointwise(
    _ function: PointwiseFunction, _ input: GraphValue
  ) -> GraphValue {
    let output = makeValue(shape: input.shape)
    append(PointwiseOperation(function: function, input: input, output: output))
    return output
  }
}
