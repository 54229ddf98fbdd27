/// A MessagePack value: the subset flax's `to_bytes` writes (maps with string keys, arrays,
/// strings, binary, integers, floats, nil, booleans and extension values).
///
/// `decode(_:)` never traps on malformed input: every problem (truncation, an unknown or
/// reserved type byte, a non-string map key, a duplicate key, invalid UTF-8, nesting deeper
/// than ``maximumDepth``, trailing bytes) throws ``CheckpointError/malformed(keyPath:reason:)``
/// naming the key path where it was found. ``encoded()`` writes the canonical (shortest)
/// encoding of each value, as the Python `msgpack` package does.
public indirect enum MessagePackValue: Equatable, Sendable {
  /// `nil`.
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// A signed integer (negative ints, and non-negative ones up to `Int64.max`).
  case int(Int64)
  /// An unsigned integer above `Int64.max`.
  case uint(UInt64)
  /// A float32 or float64 (float32 values are widened exactly).
  case float(Double)
  /// A UTF-8 string.
  case string(String)
  /// Raw bytes (`bin` family).
  case binary([UInt8])
  /// An array.
  case array([MessagePackValue])
  /// A map with string keys, in file order.
  case map([MessagePackEntry])
  /// An extension value: an application type code and its payload.
  case ext(type: Int8, data: [UInt8])

  /// The deepest nesting of arrays, maps and extension payloads the decoder accepts.
  public static let maximumDepth = 64

  /// Decodes the single value that makes up `bytes`.
  ///
  /// - Throws: ``CheckpointError/malformed(keyPath:reason:)`` naming the key path of the
  ///   problem.
  public static func decode(_ bytes: [UInt8], keyPath: [String] = []) throws -> MessagePackValue {
    try bytes.withUnsafeBytes { raw in
      var reader = MessagePackReader(bytes: raw)
      let value = try reader.readValue(keyPath: keyPath, depth: 0)
      guard reader.position == raw.count else {
        throw CheckpointError.malformed(
          keyPath: keyPath.joined(separator: "/"),
          reason: "\(raw.count - reader.position) trailing bytes after the value")
      }
      return value
    }
  }

  /// The value under `key` if this is a map that has it.
  public subscript(key: String) -> MessagePackValue? {
    guard case .map(let entries) = self else { return nil }
    return entries.first { $0.key == key }?.value
  }

  /// The value's MessagePack encoding.
  public func encoded() -> [UInt8] {
    var bytes: [UInt8] = []
    MessagePackWriter.write(self, to: &bytes)
    return bytes
  }
}

/// One key and value of a ``MessagePackValue/map(_:)``.
public struct MessagePackEntry: Equatable, Sendable {
  /// The key.
  public var key: String
  /// The value.
  public var value: MessagePackValue

  /// Creates an entry.
  public init(_ key: String, _ value: MessagePackValue) {
    self.key = key
    self.value = value
  }
}

/// A bounds-checked cursor over MessagePack bytes.
private struct MessagePackReader {
  let bytes: UnsafeRawBufferPointer
  var position = 0

  /// The most elements an array or map reserves room for up front: a count is only a claim
  /// of the input, and nested claims must not reserve more than the bytes can hold.
  static let reservationLimit = 4096

  init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  mutating func readValue(keyPath: [String], depth: Int) throws -> MessagePackValue {
    func fail(_ reason: String) -> CheckpointError {
      .malformed(keyPath: keyPath.joined(separator: "/"), reason: reason)
    }
    guard depth <= MessagePackValue.maximumDepth else {
      throw fail("nesting deeper than \(MessagePackValue.maximumDepth) levels")
    }
    let marker = try readByte(keyPath)
    switch marker {
    case 0x00...0x7f: return .int(Int64(marker))
    case 0xe0...0xff: return .int(Int64(Int8(bitPattern: marker)))
    case 0x80...0x8f: return try readMap(count: Int(marker & 0x0f), keyPath: keyPath, depth: depth)
    case 0x90...0x9f:
      return try readArray(count: Int(marker & 0x0f), keyPath: keyPath, depth: depth)
    case 0xa0...0xbf: return try readString(count: Int(marker & 0x1f), keyPath)
    case 0xc0: return .null
    case 0xc2: return .bool(false)
    case 0xc3: return .bool(true)
    case 0xc4, 0xc5, 0xc6:
      let count = try readLength(byteCount: 1 << Int(marker - 0xc4), keyPath)
      return .binary(try readBytes(count, keyPath))
    case 0xc7, 0xc8, 0xc9:
      let count = try readLength(byteCount: 1 << Int(marker - 0xc7), keyPath)
      let type = Int8(bitPattern: try readByte(keyPath))
      return .ext(type: type, data: try readBytes(count, keyPath))
    case 0xca: return .float(Double(Float(bitPattern: UInt32(try readInteger(4, keyPath)))))
    case 0xcb: return .float(Double(bitPattern: try readInteger(8, keyPath)))
    case 0xcc, 0xcd, 0xce, 0xcf:
      let value = try readInteger(1 << Int(marker - 0xcc), keyPath)
      return value <= UInt64(Int64.max) ? .int(Int64(value)) : .uint(value)
    case 0xd0, 0xd1, 0xd2, 0xd3:
      let size = 1 << Int(marker - 0xd0)
      let value = try readInteger(size, keyPath)
      let shift = UInt64(64 - 8 * size)
      return .int(Int64(bitPattern: value << shift) >> Int64(shift))
    case 0xd4...0xd8:
      let type = Int8(bitPattern: try readByte(keyPath))
      return .ext(type: type, data: try readBytes(1 << Int(marker - 0xd4), keyPath))
    case 0xd9, 0xda, 0xdb:
      return try readString(
        count: try readLength(byteCount: 1 << Int(marker - 0xd9), keyPath), keyPath)
    case 0xdc, 0xdd:
      let count = try readLength(byteCount: marker == 0xdc ? 2 : 4, keyPath)
      return try readArray(count: count, keyPath: keyPath, depth: depth)
    case 0xde, 0xdf:
      let count = try readLength(byteCount: marker == 0xde ? 2 : 4, keyPath)
      return try readMap(count: count, keyPath: keyPath, depth: depth)
    default:
      throw fail(
        "byte 0x\(String(marker, radix: 16)) at offset \(position - 1) is not a "
          + "MessagePack type")
    }
  }

  private mutating func readArray(
    count: Int, keyPath: [String], depth: Int
  ) throws -> MessagePackValue {
    try requireRemaining(count, keyPath, what: "\(count) array elements")
    var elements: [MessagePackValue] = []
    elements.reserveCapacity(min(count, MessagePackReader.reservationLimit))
    for index in 0..<count {
      elements.append(try readValue(keyPath: keyPath + ["\(index)"], depth: depth + 1))
    }
    return .array(elements)
  }

  private mutating func readMap(
    count: Int, keyPath: [String], depth: Int
  ) throws -> MessagePackValue {
    try requireRemaining(2 * count, keyPath, what: "\(count) map entries")
    var entries: [MessagePackEntry] = []
    entries.reserveCapacity(min(count, MessagePackReader.reservationLimit))
    var seen = Set<String>()
    for index in 0..<count {
      let keyValue = try readValue(keyPath: keyPath + ["<key \(index)>"], depth: depth + 1)
      guard case .string(let key) = keyValue else {
        throw CheckpointError.malformed(
          keyPath: keyPath.joined(separator: "/"),
          reason: "map key \(index) is not a string (flax writes string keys)")
      }
      guard seen.insert(key).inserted else {
        throw CheckpointError.malformed(
          keyPath: (keyPath + [key]).joined(separator: "/"), reason: "duplicate map key")
      }
      entries.append(
        MessagePackEntry(key, try readValue(keyPath: keyPath + [key], depth: depth + 1)))
    }
    return .map(entries)
  }

  private mutating func readString(count: Int, _ keyPath: [String]) throws -> MessagePackValue {
    let bytes = try readBytes(count, keyPath)
    guard let string = String(validating: bytes, as: UTF8.self) else {
      throw CheckpointError.malformed(
        keyPath: keyPath.joined(separator: "/"), reason: "a string is not valid UTF-8")
    }
    return .string(string)
  }

  private mutating func readByte(_ keyPath: [String]) throws -> UInt8 {
    try requireRemaining(1, keyPath, what: "a type byte")
    defer { position += 1 }
    return bytes[position]
  }

  private mutating func readInteger(_ size: Int, _ keyPath: [String]) throws -> UInt64 {
    try requireRemaining(size, keyPath, what: "a \(size)-byte number")
    var value: UInt64 = 0
    for offset in 0..<size { value = value << 8 | UInt64(bytes[position + offset]) }
    position += size
    return value
  }

  private mutating func readLength(byteCount: Int, _ keyPath: [String]) throws -> Int {
    Int(try readInteger(byteCount, keyPath))
  }

  private mutating func readBytes(_ count: Int, _ keyPath: [String]) throws -> [UInt8] {
    try requireRemaining(count, keyPath, what: "\(count) bytes")
    defer { position += count }
    return Array(bytes[position..<(position + count)])
  }

  private func requireRemaining(_ count: Int, _ keyPath: [String], what: String) throws {
    guard count <= bytes.count - position else {
      throw CheckpointError.malformed(
        keyPath: keyPath.joined(separator: "/"),
        reason: "truncated: \(what) at offset \(position) run past the end of the "
          + "\(bytes.count)-byte input")
    }
  }
}

/// Writes the shortest MessagePack encoding of a value.
private enum MessagePackWriter {
  static func write(_ value: MessagePackValue, to bytes: inout [UInt8]) {
    switch value {
    case .null: bytes.append(0xc0)
    case .bool(let flag): bytes.append(flag ? 0xc3 : 0xc2)
    case .int(let number): writeInteger(number, to: &bytes)
    case .uint(let number): bytes.append(0xcf); append(number, size: 8, to: &bytes)
    case .float(let number):
      bytes.append(0xcb)
      append(number.bitPattern, size: 8, to: &bytes)
    case .string(let string):
      let utf8 = Array(string.utf8)
      writeHeader(utf8.count, fix: (0xa0, 31), sized: [(0xd9, 1), (0xda, 2), (0xdb, 4)], &bytes)
      bytes += utf8
    case .binary(let data):
      writeHeader(data.count, fix: nil, sized: [(0xc4, 1), (0xc5, 2), (0xc6, 4)], &bytes)
      bytes += data
    case .array(let elements):
      writeHeader(elements.count, fix: (0x90, 15), sized: [(0xdc, 2), (0xdd, 4)], &bytes)
      for element in elements { write(element, to: &bytes) }
    case .map(let entries):
      writeHeader(entries.count, fix: (0x80, 15), sized: [(0xde, 2), (0xdf, 4)], &bytes)
      for entry in entries {
        write(.string(entry.key), to: &bytes)
        write(entry.value, to: &bytes)
      }
    case .ext(let type, let data):
      let fixed: [Int: UInt8] = [1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8]
      if let marker = fixed[data.count] {
        bytes.append(marker)
      } else {
        writeHeader(data.count, fix: nil, sized: [(0xc7, 1), (0xc8, 2), (0xc9, 4)], &bytes)
      }
      bytes.append(UInt8(bitPattern: type))
      bytes += data
    }
  }

  private static func writeInteger(_ number: Int64, to bytes: inout [UInt8]) {
    switch number {
    case 0...0x7f: bytes.append(UInt8(number))
    case -32..<0: bytes.append(UInt8(bitPattern: Int8(number)))
    case 0...0xff: bytes.append(0xcc); append(UInt64(number), size: 1, to: &bytes)
    case 0...0xffff: bytes.append(0xcd); append(UInt64(number), size: 2, to: &bytes)
    case 0...0xffff_ffff: bytes.append(0xce); append(UInt64(number), size: 4, to: &bytes)
    case 0...: bytes.append(0xcf); append(UInt64(number), size: 8, to: &bytes)
    case Int64(Int8.min)...:
      bytes.append(0xd0); append(UInt64(bitPattern: number), size: 1, to: &bytes)
    case Int64(Int16.min)...:
      bytes.append(0xd1); append(UInt64(bitPattern: number), size: 2, to: &bytes)
    case Int64(Int32.min)...:
      bytes.append(0xd2); append(UInt64(bitPattern: number), size: 4, to: &bytes)
    default: bytes.append(0xd3); append(UInt64(bitPattern: number), size: 8, to: &bytes)
    }
  }

  /// Writes a length header: the fix form if `count` fits, else the first sized form that does.
  private static func writeHeader(
    _ count: Int, fix: (base: UInt8, maximum: Int)?, sized: [(marker: UInt8, size: Int)],
    _ bytes: inout [UInt8]
  ) {
    if let fix, count <= fix.maximum {
      bytes.append(fix.base | UInt8(count))
      return
    }
    let form = sized.first { count < 1 << (8 * $0.size) } ?? sized[sized.count - 1]
    bytes.append(form.marker)
    append(UInt64(count), size: form.size, to: &bytes)
  }

  /// Appends the low `size` bytes of `value`, big-endian.
  private static func append(_ value: UInt64, size: Int, to bytes: inout [UInt8]) {
    for shift in stride(from: 8 * (size - 1), through: 0, by: -8) {
      bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
  }
}
