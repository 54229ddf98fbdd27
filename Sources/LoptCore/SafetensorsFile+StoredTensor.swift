extension SafetensorsFile {
  /// One tensor as the file stores it: dtype, shape and row-major little-endian bytes.
  public struct StoredTensor: Sendable, Equatable {
    /// The element type.
    public let dtype: DType
    /// The extent of each axis; `[]` is a scalar.
    public let shape: [Int]
    /// The elements' bytes, row-major and little-endian.
    public let bytes: [UInt8]

    /// Creates a stored tensor from raw little-endian bytes.
    ///
    /// - Precondition: extents are non-negative and `bytes` holds exactly the shape's element
    ///   count times `dtype.byteCount` bytes.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
      precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
      let byteCount = Self.byteCount(shape: shape, dtype: dtype)
      precondition(
        bytes.count == byteCount,
        "shape \(shape) of \(dtype.rawValue) needs \(byteCount) bytes, got \(bytes.count)")
      self.dtype = dtype
      self.shape = shape
      self.bytes = bytes
    }

    /// Stores a ``Tensor`` as `F32`.
    public init(_ tensor: Tensor) {
      self = tensor.withUnsafeBufferPointer { Self(float32: $0, shape: tensor.shape) }
    }

    /// Stores 32-bit integers as `I32`.
    ///
    /// - Precondition: `scalars.count` is the shape's element count.
    public init(int32 scalars: [Int32], shape: [Int]) {
      self.init(dtype: .int32, shape: shape, bytes: Self.littleEndianBytes(scalars))
    }

    /// Stores bytes as `U8`.
    ///
    /// - Precondition: `scalars.count` is the shape's element count.
    public init(uint8 scalars: [UInt8], shape: [Int]) {
      self.init(dtype: .uint8, shape: shape, bytes: scalars)
    }

    /// Stores `Float`s as `F32`.
    init(float32 scalars: UnsafeBufferPointer<Float>, shape: [Int]) {
      let bits = scalars.lazy.map(\.bitPattern)
      self.init(dtype: .float32, shape: shape, bytes: Self.littleEndianBytes(bits))
    }

    /// The number of elements (the product of the shape).
    public var count: Int { shape.reduce(1, *) }

    /// The byte count of `shape` elements of `dtype`, or `Int.max` if it overflows.
    ///
    /// The element count is multiplied out in shape order first, as the Python library does,
    /// so `[2⁶², 0]` is an empty tensor but `[2⁶², 4, 0]` overflows.
    static func byteCount(shape: [Int], dtype: DType) -> Int {
      var count = 1
      for extent in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: extent)
        if overflow { return .max }
        count = product
      }
      let (result, overflow) = count.multipliedReportingOverflow(by: dtype.byteCount)
      return overflow ? .max : result
    }

    /// Decodes the elements of a floating-point dtype into `destination`.
    ///
    /// - Precondition: `dtype` is in ``DType/floatingPoint`` and `destination` holds `count`.
    func decodeFloats(into destination: UnsafeMutableBufferPointer<Float>) {
      precondition(
        destination.count == count, "destination holds \(destination.count), not \(count)")
      bytes.withUnsafeBytes { raw in
        switch dtype {
        case .float32:
          for i in destination.indices {
            destination[i] = Float(bitPattern: Self.load(UInt32.self, raw, at: i))
          }
        case .float64:
          for i in destination.indices {
            destination[i] = Float(Double(bitPattern: Self.load(UInt64.self, raw, at: i)))
          }
        case .float16:
          for i in destination.indices {
            destination[i] = Self.float(halfBits: Self.load(UInt16.self, raw, at: i))
          }
        case .bfloat16:
          for i in destination.indices {
            destination[i] = Float(bitPattern: UInt32(Self.load(UInt16.self, raw, at: i)) << 16)
          }
        default:
          preconditionFailure("\(dtype.rawValue) is not a floating-point dtype")
        }
      }
    }

    /// The elements as integers of the dtype's own width and signedness.
    func decodeIntegers<T: FixedWidthInteger>(as type: T.Type) -> [T] {
      precondition(MemoryLayout<T>.size == dtype.byteCount, "\(T.self) does not fit \(dtype)")
      return bytes.withUnsafeBytes { raw in (0..<count).map { Self.load(T.self, raw, at: $0) } }
    }

    /// Element `index` of `raw`, read as a little-endian `T`.
    private static func load<T: FixedWidthInteger>(
      _ type: T.Type, _ raw: UnsafeRawBufferPointer, at index: Int
    ) -> T {
      T(littleEndian: raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
    }

    /// The little-endian bytes of `values`, one after another.
    private static func littleEndianBytes<T: FixedWidthInteger>(_ values: some Collection<T>)
      -> [UInt8]
    {
      let size = MemoryLayout<T>.size
      return [UInt8](unsafeUninitializedCapacity: values.count * size) { buffer, initialized in
        let raw = UnsafeMutableRawBufferPointer(buffer)
        for (i, value) in values.enumerated() {
          raw.storeBytes(of: value.littleEndian, toByteOffset: i * size, as: T.self)
        }
        initialized = values.count * size
      }
    }

    /// Converts IEEE half-precision bits to `Float` exactly (subnormals, infinities, NaNs).
    ///
    /// Written out rather than through `Float16`, which Intel Macs lack.
    static func float(halfBits bits: UInt16) -> Float {
      let sign: UInt32 = UInt32(bits & 0x8000) << 16
      let exponent = UInt32(bits >> 10) & 0x1F
      let mantissa = UInt32(bits & 0x3FF)
      switch exponent {
      case 0:
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
      case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
      default:
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
      }
    }
  }
}
