extension SafetensorsFile {
  /// The tensor called `name` as a ``Tensor``, converting `F64`, `F16` and `BF16` to `Float`.
  ///
  /// `F64` values round to the nearest `Float`; `F16` and `BF16` convert exactly.
  ///
  /// - Throws: ``SafetensorsError/tensorNotFound(_:)``, or
  ///   ``SafetensorsError/dtypeMismatch(tensor:dtype:expected:)`` for an integer dtype.
  public func floatTensor(named name: String) throws -> Tensor {
    let stored = try tensor(named: name, dtypes: DType.floatingPoint)
    var result = Tensor(shape: stored.shape)
    result.withUnsafeMutableBufferPointer { stored.decodeFloats(into: $0) }
    return result
  }

  /// The elements of the `I32` tensor called `name`, row-major.
  ///
  /// - Throws: ``SafetensorsError/tensorNotFound(_:)`` or
  ///   ``SafetensorsError/dtypeMismatch(tensor:dtype:expected:)``.
  public func int32Scalars(named name: String) throws -> [Int32] {
    try tensor(named: name, dtypes: [.int32]).decodeIntegers(as: Int32.self)
  }

  /// The elements of the `U8` tensor called `name`, row-major.
  ///
  /// - Throws: ``SafetensorsError/tensorNotFound(_:)`` or
  ///   ``SafetensorsError/dtypeMismatch(tensor:dtype:expected:)``.
  public func uint8Scalars(named name: String) throws -> [UInt8] {
    try tensor(named: name, dtypes: [.uint8]).bytes
  }

  /// Stores `tensor` as `F32` under `name`, replacing a tensor of that name in place or
  /// appending a new one.
  public mutating func setFloat(_ tensor: Tensor, named name: String) {
    self[name] = StoredTensor(tensor)
  }

  /// Stores `scalars` as an `I32` tensor of the given shape under `name`.
  ///
  /// - Precondition: `scalars.count` is the shape's element count.
  public mutating func setInt32(_ scalars: [Int32], shape: [Int], named name: String) {
    self[name] = StoredTensor(int32: scalars, shape: shape)
  }

  /// Stores `scalars` as a `U8` tensor of the given shape under `name`.
  ///
  /// - Precondition: `scalars.count` is the shape's element count.
  public mutating func setUInt8(_ scalars: [UInt8], shape: [Int], named name: String) {
    self[name] = StoredTensor(uint8: scalars, shape: shape)
  }

  /// The tensor called `name`, checked to have one of `dtypes`.
  func tensor(named name: String, dtypes: [DType]) throws -> StoredTensor {
    guard let stored = self[name] else { throw SafetensorsError.tensorNotFound(name) }
    guard dtypes.contains(stored.dtype) else {
      throw SafetensorsError.dtypeMismatch(tensor: name, dtype: stored.dtype, expected: dtypes)
    }
    return stored
  }
}
