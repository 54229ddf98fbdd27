extension SafetensorsFile {
  /// The element type of a stored tensor, spelled as in the safetensors header (`"F32"`, …).
  ///
  /// Every dtype can be read and written as raw bytes; ``SafetensorsFile`` converts the
  /// floating-point ones to `Float` and offers typed access to `I32` and `U8`.
  public enum DType: String, CaseIterable, Sendable {
    /// `BOOL`: one byte per element, 0 or 1.
    case bool = "BOOL"
    /// `U8`: unsigned 8-bit integers.
    case uint8 = "U8"
    /// `I8`: signed 8-bit integers.
    case int8 = "I8"
    /// `I16`: signed 16-bit integers.
    case int16 = "I16"
    /// `U16`: unsigned 16-bit integers.
    case uint16 = "U16"
    /// `F16`: IEEE 754 half precision.
    case float16 = "F16"
    /// `BF16`: bfloat16, the upper 16 bits of a `Float`.
    case bfloat16 = "BF16"
    /// `I32`: signed 32-bit integers.
    case int32 = "I32"
    /// `U32`: unsigned 32-bit integers.
    case uint32 = "U32"
    /// `F32`: IEEE 754 single precision, Lopt's own element type.
    case float32 = "F32"
    /// `F64`: IEEE 754 double precision.
    case float64 = "F64"
    /// `I64`: signed 64-bit integers.
    case int64 = "I64"
    /// `U64`: unsigned 64-bit integers.
    case uint64 = "U64"

    /// The size of one element in bytes.
    public var byteCount: Int {
      switch self {
      case .bool, .uint8, .int8: return 1
      case .int16, .uint16, .float16, .bfloat16: return 2
      case .int32, .uint32, .float32: return 4
      case .float64, .int64, .uint64: return 8
      }
    }

    /// The dtypes ``SafetensorsFile/floatTensor(named:)`` converts to `Float`.
    public static let floatingPoint: [DType] = [.float32, .float64, .float16, .bfloat16]
  }
}
