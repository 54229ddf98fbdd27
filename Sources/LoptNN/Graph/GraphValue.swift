/// A tensor-shaped slot in a ``Graph``'s activation buffer: an input, a layer output or scratch.
///
/// Values are created by ``GraphBuilder`` and only name memory; they hold no numbers.
/// A reshaped value aliases the same memory under another shape at no cost.
public struct GraphValue: Hashable, Sendable {
  /// The value's shape; the first axis is usually the batch.
  public let shape: [Int]
  /// The index of the first element in the graph's value buffer.
  public let offset: Int
  /// The index of the first element in the graph's gradient buffer, or `nil` for values that
  /// carry no gradient (scratch, labels, inputs that do not ask for one).
  public let gradientOffset: Int?

  /// The number of elements.
  public var count: Int { shape.reduce(1, *) }

  /// Whether a gradient slot is attached.
  public var hasGradient: Bool { gradientOffset != nil }

  /// The same memory under another shape with the same element count.
  public func reshaped(to newShape: [Int]) -> GraphValue {
    precondition(
      newShape.reduce(1, *) == count, "cannot reshape value \(shape) to \(newShape)")
    return GraphValue(shape: newShape, offset: offset, gradientOffset: gradientOffset)
  }
}

/// A trainable tensor registered with a ``GraphBuilder``: its place in the parameter layout.
public struct GraphParameter: Hashable, Sendable {
  /// The tensor's name in the layout.
  public let name: String
  /// The tensor's shape.
  public let shape: [Int]
  /// The index of the first element in the flat parameter (and gradient) buffer.
  public let offset: Int

  /// The number of elements.
  public var count: Int { shape.reduce(1, *) }
}

/// A non-trainable tensor that persists across steps (for example BatchNorm running statistics).
public struct GraphState: Hashable, Sendable {
  /// The tensor's name in the model-state layout.
  public let name: String
  /// The tensor's shape.
  public let shape: [Int]
  /// The index of the first element in the graph's model-state buffer.
  public let offset: Int

  /// The number of elements.
  public var count: Int { shape.reduce(1, *) }
}
