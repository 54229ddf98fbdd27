extension SafetensorsFile {
  /// Parses and validates a complete file held in memory.
  ///
  /// - Throws: ``SafetensorsError`` (without a path) describing the first problem found.
  public init(bytes: [UInt8]) throws {
    self = try bytes.withUnsafeBytes { try Self(parsing: $0) }
  }

  /// One tensor's header entry, validated except for its position among the others.
  private struct Entry {
    let name: String
    let dtype: DType
    let shape: [Int]
    let begin: Int
    let end: Int
  }

  /// Parses `raw`, checking every rule of the format (see ``SafetensorsError``).
  init(parsing raw: UnsafeRawBufferPointer) throws {
    guard raw.count >= 8 else { throw SafetensorsError.fileTooShort(byteCount: raw.count) }
    let headerByteCount = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
    guard headerByteCount <= UInt64(raw.count - 8) else {
      throw SafetensorsError.headerBeyondFile(
        headerByteCount: headerByteCount, fileByteCount: raw.count)
    }
    let dataStart = 8 + Int(headerByteCount)
    let header = Array(raw[8..<dataStart])
    guard String(decoding: header, as: UTF8.self).utf8.elementsEqual(header) else {
      throw SafetensorsError.invalidHeader(reason: "the header is not valid UTF-8")
    }
    let json = try SafetensorsJSONParser.parse(header)
    guard case .object(let members) = json else {
      throw SafetensorsError.invalidHeader(
        reason: "the header is \(json.kindDescription), not a JSON object")
    }
    let dataByteCount = raw.count - dataStart
    var metadata: [String: String]?
    var entries: [Entry] = []
    var seen = Set<String>()
    for (key, value) in members {
      if key == "__metadata__" {
        guard metadata == nil else {
          throw SafetensorsError.invalidMetadata(reason: "the header has two __metadata__ entries")
        }
        metadata = try Self.parseMetadata(value)
      } else {
        guard seen.insert(key).inserted else { throw SafetensorsError.duplicateTensor(key) }
        entries.append(try Self.parseEntry(name: key, value, dataByteCount: dataByteCount))
      }
    }
    // Data order; a stable sort keeps header order among empty tensors at the same offset.
    let order = entries.indices.sorted {
      (entries[$0].begin, entries[$0].end, $0) < (entries[$1].begin, entries[$1].end, $1)
    }
    self.init(metadata: metadata ?? [:])
    var expectedBegin = 0
    for entry in order.map({ entries[$0] }) {
      guard entry.begin == expectedBegin else {
        throw SafetensorsError.nonContiguousData(
          tensor: entry.name, begin: entry.begin, expectedBegin: expectedBegin)
      }
      expectedBegin = entry.end
      let bytes = Array(raw[(dataStart + entry.begin)..<(dataStart + entry.end)])
      self[entry.name] = StoredTensor(dtype: entry.dtype, shape: entry.shape, bytes: bytes)
    }
    guard expectedBegin == dataByteCount else {
      throw SafetensorsError.trailingData(byteCount: dataByteCount - expectedBegin)
    }
  }

  /// Parses `__metadata__`: an object of strings (or `null`, meaning none).
  private static func parseMetadata(_ value: SafetensorsJSON) throws -> [String: String] {
    if case .null = value { return [:] }
    guard case .object(let members) = value else {
      throw SafetensorsError.invalidMetadata(
        reason: "it is \(value.kindDescription), not an object")
    }
    var metadata: [String: String] = [:]
    for (key, member) in members {
      guard case .string(let text) = member else {
        throw SafetensorsError.invalidMetadata(
          reason: "the value of '\(key)' is \(member.kindDescription), not a string")
      }
      guard metadata.updateValue(text, forKey: key) == nil else {
        throw SafetensorsError.invalidMetadata(reason: "key '\(key)' appears twice")
      }
    }
    return metadata
  }

  /// Parses one tensor entry and checks its dtype, shape and offsets on their own.
  ///
  /// Fields other than `dtype`, `shape` and `data_offsets` are ignored, as in Python.
  private static func parseEntry(
    name: String, _ value: SafetensorsJSON, dataByteCount: Int
  ) throws -> Entry {
    func invalid(_ reason: String) -> SafetensorsError {
      .invalidTensorEntry(tensor: name, reason: reason)
    }
    guard case .object(let members) = value else {
      throw invalid("the entry is \(value.kindDescription), not an object")
    }
    var fields: [String: SafetensorsJSON] = [:]
    for (key, member) in members where ["dtype", "shape", "data_offsets"].contains(key) {
      guard fields.updateValue(member, forKey: key) == nil else {
        throw invalid("field '\(key)' appears twice")
      }
    }
    guard let dtypeValue = fields["dtype"] else { throw invalid("no 'dtype' field") }
    guard case .string(let dtypeName) = dtypeValue else {
      throw invalid("'dtype' is \(dtypeValue.kindDescription), not a string")
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      throw SafetensorsError.unknownDType(tensor: name, dtype: dtypeName)
    }
    guard let shapeValue = fields["shape"] else { throw invalid("no 'shape' field") }
    guard let shape = naturalNumbers(shapeValue) else {
      throw invalid("'shape' is not an array of non-negative integers")
    }
    guard let offsetsValue = fields["data_offsets"] else {
      throw invalid("no 'data_offsets' field")
    }
    guard let offsets = naturalNumbers(offsetsValue), offsets.count == 2 else {
      throw invalid("'data_offsets' is not an array of two non-negative integers")
    }
    let (begin, end) = (offsets[0], offsets[1])
    let byteCount = StoredTensor.byteCount(shape: shape, dtype: dtype)
    guard byteCount < .max else { throw invalid("shape \(shape) has too many elements") }
    guard begin <= end, end <= dataByteCount else {
      throw SafetensorsError.offsetsOutOfRange(
        tensor: name, begin: begin, end: end, dataByteCount: dataByteCount)
    }
    guard end - begin == byteCount else {
      throw SafetensorsError.sizeMismatch(
        tensor: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }
    return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
  }

  /// The elements of a JSON array of non-negative integers, or `nil`.
  private static func naturalNumbers(_ value: SafetensorsJSON) -> [Int]? {
    guard case .array(let elements) = value else { return nil }
    var result: [Int] = []
    for element in elements {
      guard case .integer(let number) = element, number >= 0 else { return nil }
      result.append(number)
    }
    return result
  }
}
