import Foundation
import LoptCore
import Testing

/// A malformed file and the error reading it must raise.
struct CorruptFile: Sendable, CustomTestStringConvertible {
  let testDescription: String
  let bytes: [UInt8]
  let expected: SafetensorsError

  init(_ description: String, _ bytes: [UInt8], _ expected: SafetensorsError) {
    testDescription = description
    self.bytes = bytes
    self.expected = expected
  }

  /// A file with `header` and `data`.
  init(_ description: String, header: String, data: Int = 0, _ expected: SafetensorsError) {
    self.init(
      description, rawSafetensors(header: header, data: [UInt8](repeating: 0, count: data)),
      expected)
  }
}

/// The header entry of a tensor.
func headerEntry(
  _ name: String, _ shape: String, _ offsets: String, dtype: String = "F32"
) -> String {
  #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
}

@Suite struct SafetensorsValidationTests {
  static let corruptFiles: [CorruptFile] = [
    CorruptFile("empty file", [], .fileTooShort(byteCount: 0)),
    CorruptFile("seven bytes", [8, 0, 0, 0, 0, 0, 0], .fileTooShort(byteCount: 7)),
    CorruptFile(
      "header longer than the file", [100, 0, 0, 0, 0, 0, 0, 0] + Array("{}".utf8),
      .headerBeyondFile(headerByteCount: 100, fileByteCount: 10)),
    CorruptFile(
      "header length 2^64 - 1", [UInt8](repeating: 0xFF, count: 8) + Array("{}".utf8),
      .headerBeyondFile(headerByteCount: .max, fileByteCount: 10)),
    CorruptFile(
      "header not UTF-8", [3, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0xFF, 0x7D],
      .invalidHeader(reason: "the header is not valid UTF-8")),
    CorruptFile(
      "header not JSON", header: #"{"a": "#,
      .invalidHeader(reason: "not valid JSON: unexpected end at byte 6 of the header")),
    CorruptFile(
      "header with trailing text", header: "{} x",
      .invalidHeader(
        reason: "not valid JSON: unexpected text after the JSON value at byte 3 of the header")),
    CorruptFile(
      "header is an array", header: "[1, 2]",
      .invalidHeader(reason: "the header is an array, not a JSON object")),
    CorruptFile(
      "nesting too deep", header: String(repeating: "[", count: 10_000),
      .invalidHeader(
        reason: "not valid JSON: nesting deeper than 64 levels at byte 64 of the header")),
    CorruptFile(
      "lone surrogate", header: #"{"\udc00": 1}"#,
      .invalidHeader(
        reason: "not valid JSON: unpaired surrogate in a \\u escape at byte 8 of the header")),
    CorruptFile(
      "unknown dtype", header: "{\(headerEntry("w", "[2]", "[0, 8]", dtype: "Q4"))}", data: 8,
      .unknownDType(tensor: "w", dtype: "Q4")),
    CorruptFile(
      "size mismatch", header: "{\(headerEntry("w", "[2, 3]", "[0, 20]"))}", data: 20,
      .sizeMismatch(tensor: "w", dtype: .float32, shape: [2, 3], begin: 0, end: 20)),
    CorruptFile(
      "offsets past the data", header: "{\(headerEntry("w", "[2, 3]", "[0, 24]"))}", data: 20,
      .offsetsOutOfRange(tensor: "w", begin: 0, end: 24, dataByteCount: 20)),
    CorruptFile(
      "reversed offsets", header: "{\(headerEntry("w", "[1]", "[8, 4]"))}", data: 8,
      .offsetsOutOfRange(tensor: "w", begin: 8, end: 4, dataByteCount: 8)),
    CorruptFile(
      "overlapping tensors",
      header: "{\(headerEntry("a", "[2]", "[0, 8]")), \(headerEntry("b", "[2]", "[4, 12]"))}",
      data: 12,
      .nonContiguousData(tensor: "b", begin: 4, expectedBegin: 8)),
    CorruptFile(
      "hole between tensors",
      header: "{\(headerEntry("a", "[2]", "[0, 8]")), \(headerEntry("b", "[2]", "[12, 20]"))}",
      data: 20,
      .nonContiguousData(tensor: "b", begin: 12, expectedBegin: 8)),
    CorruptFile(
      "data not starting at 0", header: "{\(headerEntry("a", "[2]", "[4, 12]"))}", data: 12,
      .nonContiguousData(tensor: "a", begin: 4, expectedBegin: 0)),
    CorruptFile(
      "trailing data", header: "{\(headerEntry("a", "[2]", "[0, 8]"))}", data: 12,
      .trailingData(byteCount: 4)),
    CorruptFile(
      "duplicate tensor",
      header: "{\(headerEntry("a", "[1]", "[0, 4]")), \(headerEntry("a", "[1]", "[4, 8]"))}",
      data: 8,
      .duplicateTensor("a")),
    CorruptFile(
      "metadata value not a string", header: #"{"__metadata__": {"step": 12}}"#,
      .invalidMetadata(reason: "the value of 'step' is a number, not a string")),
    CorruptFile(
      "metadata not an object", header: #"{"__metadata__": ["a"]}"#,
      .invalidMetadata(reason: "it is an array, not an object")),
    CorruptFile(
      "metadata twice", header: #"{"__metadata__": {}, "__metadata__": {}}"#,
      .invalidMetadata(reason: "the header has two __metadata__ entries")),
    CorruptFile(
      "entry not an object", header: #"{"w": [1]}"#,
      .invalidTensorEntry(tensor: "w", reason: "the entry is an array, not an object")),
    CorruptFile(
      "missing dtype", header: #"{"w": {"shape": [], "data_offsets": [0, 4]}}"#, data: 4,
      .invalidTensorEntry(tensor: "w", reason: "no 'dtype' field")),
    CorruptFile(
      "dtype not a string",
      header: #"{"w": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}}"#, data: 4,
      .invalidTensorEntry(tensor: "w", reason: "'dtype' is a number, not a string")),
    CorruptFile(
      "negative extent", header: "{\(headerEntry("w", "[-1]", "[0, 4]"))}", data: 4,
      .invalidTensorEntry(tensor: "w", reason: "'shape' is not an array of non-negative integers")),
    CorruptFile(
      "fractional extent", header: "{\(headerEntry("w", "[1.0]", "[0, 4]"))}", data: 4,
      .invalidTensorEntry(tensor: "w", reason: "'shape' is not an array of non-negative integers")),
    CorruptFile(
      "three offsets", header: "{\(headerEntry("w", "[1]", "[0, 4, 8]"))}", data: 4,
      .invalidTensorEntry(
        tensor: "w", reason: "'data_offsets' is not an array of two non-negative integers")),
    CorruptFile(
      "offset beyond Int", header: "{\(headerEntry("w", "[1]", "[0, 18446744073709551616]"))}",
      data: 4,
      .invalidTensorEntry(
        tensor: "w", reason: "'data_offsets' is not an array of two non-negative integers")),
    CorruptFile(
      "element count overflows",
      header: "{\(headerEntry("w", "[4611686018427387904, 4, 0]", "[0, 0]"))}",
      .invalidTensorEntry(
        tensor: "w", reason: "shape [4611686018427387904, 4, 0] has too many elements")),
    CorruptFile(
      "element count overflows before the dtype size",
      header: "{\(headerEntry("w", "[2305843009213693952, 4]", "[0, 0]"))}",
      .invalidTensorEntry(
        tensor: "w", reason: "shape [2305843009213693952, 4] has too many elements")),
    CorruptFile(
      "field twice",
      header: #"{"w": {"dtype": "F32", "dtype": "F32", "shape": [], "data_offsets": [0, 4]}}"#,
      data: 4, .invalidTensorEntry(tensor: "w", reason: "field 'dtype' appears twice")),
  ]

  @Test(arguments: corruptFiles)
  func corruptInputThrowsTheRightError(_ corrupt: CorruptFile) {
    #expect(throws: corrupt.expected) { try SafetensorsFile(bytes: corrupt.bytes) }
  }

  @Test func messagesNameTheFileAndTheTensor() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let url = directory.file("broken.safetensors")
    let header = "{\(headerEntry("layer0/w", "[2, 3]", "[0, 20]"))}"
    try Data(rawSafetensors(header: header, data: [UInt8](repeating: 0, count: 20))).write(to: url)
    let error = #expect(throws: SafetensorsError.self) { try SafetensorsFile(contentsOf: url) }
    #expect(error?.path == url.path)
    #expect(
      error?.underlying
        == .sizeMismatch(tensor: "layer0/w", dtype: .float32, shape: [2, 3], begin: 0, end: 20))
    #expect(
      error?.description
        == "\(url.path): tensor 'layer0/w': shape [2, 3] of F32 needs 24 bytes but data_offsets "
        + "[0, 20] span 20")
    for corrupt in Self.corruptFiles {
      #expect(!corrupt.expected.description.isEmpty)
      if case .invalidTensorEntry(let tensor, _) = corrupt.expected {
        #expect(corrupt.expected.description.contains("'\(tensor)'"))
      }
    }
  }

  /// A valid file with several dtypes and metadata, the seed of the fuzz test.
  static func fuzzSeed() -> [UInt8] {
    var file = SafetensorsFile(metadata: ["format": "lopt", "step": "3"])
    file.setFloat(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), named: "layer0/w")
    file.setFloat(Tensor(shape: [], repeating: 0.5), named: "scale")
    file.setInt32([7, -8], shape: [2], named: "steps")
    file.setUInt8([1, 2, 3], shape: [1, 3], named: "pixels")
    file["wide"] = .init(dtype: .int64, shape: [1], bytes: [1, 0, 0, 0, 0, 0, 0, 0])
    return file.serialized()
  }

  /// Mutation `index` of `seed`, chosen and shaped by a fixed key.
  static func mutation(_ index: Int, of seed: [UInt8]) -> [UInt8] {
    let key = RandomKey(seed: 2024).folding(in: UInt64(index))
    var bytes = seed
    func random(_ bound: Int, _ slot: Int) -> Int { key.integer(below: max(bound, 1), at: slot) }
    let jsonBytes = Array(#"{}[]":,-0123456789eE.ntf \u"#.utf8)
    switch random(7, 0) {
    case 0:  // overwrite a few bytes anywhere
      for slot in 1...(1 + random(4, 1)) {
        bytes[random(bytes.count, 2 * slot)] = UInt8(random(256, 2 * slot + 1))
      }
    case 1:  // overwrite a header byte with JSON punctuation or a digit
      bytes[8 + random(bytes.count - 8, 1)] = jsonBytes[random(jsonBytes.count, 2)]
    case 2:  // truncate
      bytes.removeLast(1 + random(bytes.count - 1, 1))
    case 3:  // a random or nearby header length
      let length = random(2, 1) == 0 ? UInt64(random(bytes.count + 16, 2)) : UInt64(key.bits(at: 2))
      bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: length.littleEndian) { Array($0) })
    case 4:  // insert random bytes
      let inserted = (0..<(1 + random(8, 1))).map { UInt8(random(256, 10 + $0)) }
      bytes.insert(contentsOf: inserted, at: random(bytes.count, 2))
    case 5:  // delete a range
      let start = random(bytes.count, 1)
      bytes.removeSubrange(start..<min(bytes.count, start + 1 + random(16, 2)))
    default:  // duplicate a range of the header in place
      let start = 8 + random(bytes.count - 8, 1)
      let end = min(bytes.count, start + 1 + random(24, 2))
      bytes.insert(contentsOf: bytes[start..<end], at: start)
    }
    return bytes
  }

  @Test func fuzzedInputOnlyThrowsOrParses() throws {
    let seed = Self.fuzzSeed()
    var parsedCount = 0
    var failureKinds = Set<String>()
    for index in 0..<2000 {
      let bytes = Self.mutation(index, of: seed)
      do {
        let file = try SafetensorsFile(bytes: bytes)
        parsedCount += 1
        // Whatever parses must survive our own round trip unchanged.
        #expect(try SafetensorsFile(bytes: file.serialized()) == file)
      } catch let error as SafetensorsError {
        failureKinds.insert(Mirror(reflecting: error.underlying).children.first?.label ?? "")
      }
    }
    // Both outcomes occur and the failures are varied, so the mutations reach the validator.
    #expect(parsedCount > 20)
    #expect(parsedCount < 1950)
    #expect(failureKinds.count > 5, "\(failureKinds)")
  }
}
