import Foundation
import LoptCore
import Testing

/// A raw safetensors file: the little-endian length of `header`, `header`, then `data`.
func rawSafetensors(header: String, data: [UInt8] = []) -> [UInt8] {
  let headerBytes = Array(header.utf8)
  return withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) }
    + headerBytes + data
}

@Suite struct SafetensorsFileTests {
  /// Bytes `0, 31, 62, …` (mod 256) for a tensor of `shape` and `dtype`.
  static func stored(_ dtype: SafetensorsFile.DType, _ shape: [Int]) -> SafetensorsFile.StoredTensor
  {
    let byteCount = shape.reduce(1, *) * dtype.byteCount
    let bytes = (0..<byteCount).map { UInt8(truncatingIfNeeded: 31 * $0 + 7) }
    return SafetensorsFile.StoredTensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  @Test(arguments: SafetensorsFile.DType.allCases)
  func everyDTypeRoundTripsWithMetadata(_ dtype: SafetensorsFile.DType) throws {
    var file = SafetensorsFile(metadata: ["step": "12", "note": "é ∑ \"q\" \\ \n\t\u{01}"])
    file["matrix"] = Self.stored(dtype, [2, 3])
    file["scalar"] = Self.stored(dtype, [])
    file["empty"] = Self.stored(dtype, [0, 5])
    file["4d"] = Self.stored(dtype, [1, 2, 1, 3])
    let bytes = file.serialized()
    let parsed = try SafetensorsFile(bytes: bytes)
    #expect(parsed == file)
    #expect(parsed.names == ["matrix", "scalar", "empty", "4d"])
    #expect(parsed.metadata["note"] == "é ∑ \"q\" \\ \n\t\u{01}")
    #expect(parsed.serialized() == bytes)
  }

  @Test func typedTensorsRoundTrip() throws {
    var file = SafetensorsFile()
    let weights = Tensor(shape: [2, 3], scalars: [0.5, -1, 3e-8, .infinity, -0.0, 1e30])
    file.setFloat(weights, named: "weights")
    file.setFloat(Tensor(shape: [], repeating: 4.25), named: "scale")
    file.setInt32([.min, -1, 0, .max], shape: [2, 2], named: "labels")
    file.setUInt8([0, 1, 254, 255], shape: [4], named: "pixels")
    let parsed = try SafetensorsFile(bytes: file.serialized())
    #expect(try parsed.floatTensor(named: "weights") == weights)
    #expect(try parsed.floatTensor(named: "scale") == Tensor(shape: [], repeating: 4.25))
    #expect(try parsed.int32Scalars(named: "labels") == [.min, -1, 0, .max])
    #expect(parsed["labels"]?.shape == [2, 2])
    #expect(try parsed.uint8Scalars(named: "pixels") == [0, 1, 254, 255])
    #expect(parsed["weights"]?.dtype == .float32)
    #expect(parsed["weights"]?.count == 6)
  }

  @Test func layoutOfTheWrittenBytes() throws {
    var file = SafetensorsFile(metadata: ["b": "2", "a": "1\"\n"])
    file.setFloat(Tensor([1, -2]), named: "x")
    file.setUInt8([7, 8, 9], shape: [3], named: "y")
    let bytes = file.serialized()
    let header =
      #"{"__metadata__":{"a":"1\"\n","b":"2"},"x":{"dtype":"F32","shape":[2],"#
      + #""data_offsets":[0,8]},"y":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}"#
    let padding = String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
    let data: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0, 7, 8, 9]
    #expect(bytes == rawSafetensors(header: header + padding, data: data))
    #expect((bytes.count - data.count) % 8 == 0)
    #expect(SafetensorsFile().serialized() == rawSafetensors(header: "{}      "))
  }

  @Test func tensorsKeepInsertionOrder() throws {
    var file = SafetensorsFile()
    for name in ["z", "a", "m", "b"] { file.setFloat(Tensor([1]), named: name) }
    file.setFloat(Tensor([2, 3]), named: "a")
    file["m"] = nil
    #expect(file.names == ["z", "a", "b"])
    #expect(file.count == 3)
    let parsed = try SafetensorsFile(bytes: file.serialized())
    #expect(parsed.names == ["z", "a", "b"])
    #expect(try parsed.floatTensor(named: "a") == Tensor([2, 3]))
  }

  @Test func readsHandWrittenHeaders() throws {
    // Whitespace, padding, escapes, `null` metadata, extra fields and data order ≠ header order.
    let header = """
      {
        "b\\u00e9\\ud83d\\ude00": {"data_offsets": [4, 6], "shape": [1], "dtype": "F16",
                                   "comment": {"ignored": [1.5e3, true, null]}},
        "__metadata__": null,
        "a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}
      }\("  ")
      """
    let data: [UInt8] = [0, 0, 0x20, 0x40, 0x00, 0x3C]
    let file = try SafetensorsFile(bytes: rawSafetensors(header: header, data: data))
    #expect(file.names == ["a", "bé😀"])
    #expect(file.metadata.isEmpty)
    #expect(try file.floatTensor(named: "a").scalars == [2.5])
    #expect(try file.floatTensor(named: "bé😀").scalars == [1])
    // An extent too large for memory is fine when another extent is 0 (as in Python).
    let empty = try SafetensorsFile(
      bytes: rawSafetensors(
        header:
          #"{"e": {"dtype": "F64", "shape": [4611686018427387904, 0], "data_offsets": [0, 0]}}"#))
    #expect(try empty.floatTensor(named: "e").shape == [4_611_686_018_427_387_904, 0])
  }

  @Test func convertsHalfBFloatAndDoubleToFloat() throws {
    var file = SafetensorsFile()
    let halves: [UInt16] = [0x3C00, 0xC100, 0x7BFF, 0x0001, 0x0400, 0x0000, 0x8000, 0x7C00, 0xFC00]
    file["half"] = .init(
      dtype: .float16, shape: [halves.count],
      bytes: halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
    let brains: [UInt16] = [0x3F80, 0xC020, 0x7F80, 0x0001]
    file["brain"] = .init(
      dtype: .bfloat16, shape: [brains.count],
      bytes: brains.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
    let doubles: [Double] = [0.1, -7.25, 1e300]
    file["double"] = .init(
      dtype: .float64, shape: [3],
      bytes: doubles.flatMap { value in
        withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
      })
    let half = try file.floatTensor(named: "half").scalars
    #expect(half == [1, -2.5, 65504, 0x1p-24, 0x1p-14, 0, 0, .infinity, -.infinity])
    #expect(half[6].sign == .minus)
    let nan = SafetensorsFile.StoredTensor(dtype: .float16, shape: [], bytes: [0x01, 0x7E])
    file["nan"] = nan
    #expect(try file.floatTensor(named: "nan")[flat: 0].isNaN)
    #expect(
      try file.floatTensor(named: "brain").scalars == [
        1, -2.5, .infinity, Float(bitPattern: 0x1_0000),
      ])
    #expect(try file.floatTensor(named: "double").scalars == [0.1, -7.25, .infinity])
  }

  @Test func typedAccessorsRejectOtherDTypesAndMissingNames() {
    var file = SafetensorsFile()
    file.setInt32([1], shape: [1], named: "i")
    file.setFloat(Tensor([1]), named: "f")
    #expect(throws: SafetensorsError.tensorNotFound("g")) { try file.floatTensor(named: "g") }
    let error = #expect(throws: SafetensorsError.self) { try file.floatTensor(named: "i") }
    #expect(
      error
        == .dtypeMismatch(
          tensor: "i", dtype: .int32, expected: [.float32, .float64, .float16, .bfloat16]))
    #expect(error?.description == "tensor 'i' has dtype I32, expected F32, F64, F16 or BF16")
    #expect(
      throws: SafetensorsError.dtypeMismatch(tensor: "f", dtype: .float32, expected: [.int32])
    ) {
      try file.int32Scalars(named: "f")
    }
    #expect(throws: SafetensorsError.dtypeMismatch(tensor: "i", dtype: .int32, expected: [.uint8]))
    {
      try file.uint8Scalars(named: "i")
    }
  }

  @Test func writesAndReadsFiles() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    var file = SafetensorsFile(metadata: ["format": "lopt"])
    file.setFloat(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), named: "w")
    let url = directory.file("model.safetensors")
    try file.write(to: url)
    #expect(try SafetensorsFile(contentsOf: url) == file)
    #expect(try directory.entries() == ["model.safetensors"])
    let missing = directory.file("missing.safetensors")
    let error = #expect(throws: SafetensorsError.self) { try SafetensorsFile(contentsOf: missing) }
    #expect(error?.path == missing.path)
    #expect(error?.description.hasPrefix(missing.path + ": cannot read the file") == true)
  }
}
