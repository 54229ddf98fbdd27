/// A dense, row-major array of `Float32` with a shape.
///
/// `Tensor` is a value type: copies share storage until one is mutated (copy-on-write),
/// so passing tensors around is cheap and mutation never surprises another owner.
/// Shapes are set when a tensor is created; hot loops reach the elements through
/// ``withUnsafeBufferPointer(_:)`` and ``withUnsafeMutableBufferPointer(_:)``.
public struct Tensor: Sendable {
  @usableFromInline var storage: TensorStorage

  /// The extent of each axis; `[]` is a scalar.
  public let shape: [Int]

  /// Creates a tensor of the given shape with every element set to `value`.
  public init(shape: [Int], repeating value: Float = 0) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
    self.shape = shape
    storage = TensorStorage(count: shape.reduce(1, *))
    storage.base.initialize(repeating: value, count: storage.count)
  }

  /// Creates a tensor of the given shape from row-major `scalars`.
  public init(shape: [Int], scalars: [Float]) {
    let count = shape.reduce(1, *)
    precondition(
      scalars.count == count,
      "shape \(shape) needs \(count) scalars, got \(scalars.count)")
    self.init(shape: shape)
    guard count > 0 else { return }
    scalars.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: count) }
  }

  /// Creates a rank-1 tensor holding `scalars`.
  public init(_ scalars: [Float]) {
    self.init(shape: [scalars.count], scalars: scalars)
  }

  /// The number of elements (the product of the shape).
  @inlinable public var count: Int { storage.count }

  /// The number of axes.
  public var rank: Int { shape.count }

  /// The elements in row-major order, copied into an array.
  public var scalars: [Float] {
    withUnsafeBufferPointer { Array($0) }
  }

  /// The element at a flat (row-major) index.
  @inlinable
  public subscript(flat index: Int) -> Float {
    get {
      precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
      return storage.base[index]
    }
    set {
      precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
      makeUnique()
      storage.base[index] = newValue
    }
  }

  /// Returns the same elements under another shape with the same element count.
  public func reshaped(to newShape: [Int]) -> Tensor {
    precondition(
      newShape.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
    return Tensor(storage: storage, shape: newShape)
  }

  /// Calls `body` with read-only access to the elements.
  ///
  /// - Complexity: O(1); allocates nothing.
  @inlinable
  public func withUnsafeBufferPointer<R>(
    _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try withExtendedLifetime(storage) {
      try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }
  }

  /// Calls `body` with mutable access to the elements, copying the storage first if it is shared.
  @inlinable
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    makeUnique()
    return try withExtendedLifetime(storage) {
      try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }
  }

  @inlinable
  mutating func makeUnique() {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
  }

  init(storage: TensorStorage, shape: [Int]) {
    self.storage = storage
    self.shape = shape
  }
}

extension Tensor: Equatable {
  /// Two tensors are equal when their shapes and all elements are equal (IEEE comparison).
  public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
    guard lhs.shape == rhs.shape else { return false }
    if lhs.storage === rhs.storage { return !lhs.scalars.contains { $0.isNaN } }
    return lhs.withUnsafeBufferPointer { a in
      rhs.withUnsafeBufferPointer { b in
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
      }
    }
  }
}

extension Tensor: CustomStringConvertible {
  /// A short summary: shape and the first few elements.
  public var description: String {
    let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
    return "Tensor(shape: \(shape), [\(head)\(count > 8 ? ", …" : "")])"
  }
}
