import CLoptShims

/// Every tensor of a layout in one contiguous `Float` buffer, with named per-tensor views.
///
/// The flat view is what evolution strategies and fused optimizer loops use; the per-tensor
/// view is an offset into it. A value type with copy-on-write storage, like ``Tensor``.
public struct ParameterSet: Sendable, Equatable {
  /// The names, shapes and offsets of the tensors.
  public let layout: ParameterLayout
  /// All elements, in layout order.
  public private(set) var flat: Tensor

  /// Creates a set for `layout` with every element set to `value`.
  public init(layout: ParameterLayout, repeating value: Float = 0) {
    self.layout = layout
    flat = Tensor(shape: [layout.totalCount], repeating: value)
  }

  /// Creates a set for `layout` over the given flat elements.
  public init(layout: ParameterLayout, flat: Tensor) {
    precondition(
      flat.count == layout.totalCount,
      "a layout of \(layout.totalCount) elements cannot hold \(flat.count)")
    self.layout = layout
    self.flat = flat.rank == 1 ? flat : flat.reshaped(to: [flat.count])
  }

  /// Creates a set for `layout` with elements drawn from N(0, `standardDeviation`²) by `key`.
  public init(layout: ParameterLayout, standardDeviation: Float, key: RandomKey) {
    self.init(layout: layout)
    withUnsafeMutableBufferPointer { key.fillNormal($0, standardDeviation: standardDeviation) }
  }

  /// A set with the same layout and every element zero.
  public func zerosLike() -> ParameterSet { ParameterSet(layout: layout) }

  /// The number of elements in all tensors.
  public var count: Int { layout.totalCount }

  /// The tensor called `name`, copied out; setting replaces its elements.
  ///
  /// - Precondition: the name is in the layout and a new value has the entry's shape.
  public subscript(name: String) -> Tensor {
    get { self[entry(name)] }
    set { self[entry(name)] = newValue }
  }

  /// The tensor of a layout entry, copied out; setting replaces its elements.
  ///
  /// - Precondition: `entry` belongs to this set's layout.
  public subscript(entry: ParameterLayout.Entry) -> Tensor {
    get {
      checkMembership(entry)
      var result = Tensor(shape: entry.shape)
      withUnsafeBufferPointer { source in
        result.withUnsafeMutableBufferPointer { destination in
          destination.baseAddress!.update(
            from: source.baseAddress! + entry.offset, count: entry.count)
        }
      }
      return result
    }
    set {
      checkMembership(entry)
      precondition(
        newValue.shape == entry.shape,
        "tensor '\(entry.name)' has shape \(entry.shape), cannot assign \(newValue.shape)")
      newValue.withUnsafeBufferPointer { source in
        withUnsafeMutableBufferPointer { destination in
          (destination.baseAddress! + entry.offset).update(
            from: source.baseAddress!, count: entry.count)
        }
      }
    }
  }

  /// Calls `body` with read-only access to all elements.
  ///
  /// - Complexity: O(1); allocates nothing.
  public func withUnsafeBufferPointer<R>(
    _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try flat.withUnsafeBufferPointer(body)
  }

  /// Calls `body` with mutable access to all elements.
  ///
  /// - Complexity: O(1); allocates nothing unless the storage is shared (copy-on-write).
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try flat.withUnsafeMutableBufferPointer(body)
  }

  /// Calls `body` with read-only access to the elements of tensor `index`.
  public func withUnsafeBufferPointer<R>(
    ofTensor index: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    let entry = layout.entries[index]
    return try flat.withUnsafeBufferPointer {
      try body(UnsafeBufferPointer(rebasing: $0[entry.range]))
    }
  }

  /// Calls `body` with mutable access to the elements of tensor `index`.
  public mutating func withUnsafeMutableBufferPointer<R>(
    ofTensor index: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    let entry = layout.entries[index]
    return try flat.withUnsafeMutableBufferPointer {
      try body(UnsafeMutableBufferPointer(rebasing: $0[entry.range]))
    }
  }

  /// Whether every element is finite (no NaN or infinity).
  ///
  /// - Complexity: one vectorised pass (an OR over exponent bits); allocates nothing.
  public var isFinite: Bool {
    withUnsafeBufferPointer { lopt_all_finite($0.baseAddress, $0.count) != 0 }
  }

  private func checkMembership(_ entry: ParameterLayout.Entry) {
    precondition(
      layout.entry(named: entry.name) == entry,
      "tensor '\(entry.name)' at offset \(entry.offset) is not part of this parameter set's layout")
  }

  private func entry(_ name: String) -> ParameterLayout.Entry {
    guard let entry = layout.entry(named: name) else {
      preconditionFailure("no tensor named '\(name)' in layout \(layout.names)")
    }
    return entry
  }
}
