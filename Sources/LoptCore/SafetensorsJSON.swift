/// A JSON value as the safetensors header reader needs it.
///
/// Objects keep their members in document order, duplicates included, so the reader can
/// reject a repeated tensor name (Foundation's `JSONSerialization` silently keeps one).
enum SafetensorsJSON {
  case null
  case bool(Bool)
  /// An integer literal that fits in `Int`.
  case integer(Int)
  /// Any other number: a fraction, an exponent, or an integer too large for `Int`.
  case number
  case string(String)
  case array([SafetensorsJSON])
  case object([(key: String, value: SafetensorsJSON)])

  /// The kind of value with an article, for error messages ("a string").
  var kindDescription: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .integer, .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
  }

  /// `text` as a JSON string literal, escaped as `serde_json` (the Python library) does.
  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case "\u{08}": result += "\\b"
      case "\u{0C}": result += "\\f"
      case "\u{00}"..."\u{1F}":
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}

/// A strict RFC 8259 parser over UTF-8 bytes that never traps: every malformed input throws
/// ``SafetensorsError/invalidHeader(reason:)`` with the byte position of the problem.
struct SafetensorsJSONParser {
  /// Nesting deeper than this is rejected, so hostile input cannot exhaust the stack.
  static let maximumDepth = 64

  private let bytes: [UInt8]
  private var index = 0
  private var depth = 0

  private init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  /// Parses one JSON value surrounded by optional whitespace.
  ///
  /// - Precondition: `bytes` is valid UTF-8 (the caller checks).
  static func parse(_ bytes: [UInt8]) throws -> SafetensorsJSON {
    var parser = SafetensorsJSONParser(bytes: bytes)
    let value = try parser.parseValue()
    parser.skipWhitespace()
    guard parser.index == bytes.count else {
      throw parser.failure("unexpected text after the JSON value")
    }
    return value
  }

  private func failure(_ problem: String) -> SafetensorsError {
    .invalidHeader(reason: "not valid JSON: \(problem) at byte \(index) of the header")
  }

  private mutating func skipWhitespace() {
    while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
  }

  /// Consumes `byte` (after whitespace) if it is next.
  private mutating func consume(_ byte: UInt8) -> Bool {
    skipWhitespace()
    guard index < bytes.count, bytes[index] == byte else { return false }
    index += 1
    return true
  }

  private mutating func parseValue() throws -> SafetensorsJSON {
    skipWhitespace()
    guard index < bytes.count else { throw failure("unexpected end") }
    switch bytes[index] {
    case UInt8(ascii: "{"): return try parseObject()
    case UInt8(ascii: "["): return try parseArray()
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
    case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
    case UInt8(ascii: "n"): return try parseLiteral("null", .null)
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw failure("unexpected character")
    }
  }

  private mutating func parseLiteral(
    _ literal: String, _ value: SafetensorsJSON
  ) throws -> SafetensorsJSON {
    let end = index + literal.utf8.count
    guard end <= bytes.count, bytes[index..<end].elementsEqual(literal.utf8) else {
      throw failure("unexpected character")
    }
    index = end
    return value
  }

  private mutating func enterContainer() throws {
    depth += 1
    guard depth <= Self.maximumDepth else {
      throw failure("nesting deeper than \(Self.maximumDepth) levels")
    }
    index += 1
  }

  private mutating func parseObject() throws -> SafetensorsJSON {
    try enterContainer()
    var members: [(key: String, value: SafetensorsJSON)] = []
    if !consume(UInt8(ascii: "}")) {
      repeat {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
          throw failure("expected a string key")
        }
        let key = try parseString()
        guard consume(UInt8(ascii: ":")) else { throw failure("expected ':'") }
        let value = try parseValue()
        members.append((key, value))
      } while consume(UInt8(ascii: ","))
      guard consume(UInt8(ascii: "}")) else { throw failure("expected ',' or '}'") }
    }
    depth -= 1
    return .object(members)
  }

  private mutating func parseArray() throws -> SafetensorsJSON {
    try enterContainer()
    var elements: [SafetensorsJSON] = []
    if !consume(UInt8(ascii: "]")) {
      repeat {
        elements.append(try parseValue())
      } while consume(UInt8(ascii: ","))
      guard consume(UInt8(ascii: "]")) else { throw failure("expected ',' or ']'") }
    }
    depth -= 1
    return .array(elements)
  }

  /// Parses a string literal starting at its opening quote.
  private mutating func parseString() throws -> String {
    index += 1
    var result = ""
    var runStart = index
    while true {
      guard index < bytes.count else { throw failure("unterminated string") }
      switch bytes[index] {
      case UInt8(ascii: "\""):
        // Runs end at ASCII bytes, which never split a UTF-8 sequence, so each is valid.
        result += String(decoding: bytes[runStart..<index], as: UTF8.self)
        index += 1
        return result
      case UInt8(ascii: "\\"):
        result += String(decoding: bytes[runStart..<index], as: UTF8.self)
        index += 1
        result.unicodeScalars.append(try parseEscape())
        runStart = index
      case 0x00..<0x20:
        throw failure("control character in a string")
      default:
        index += 1
      }
    }
  }

  /// Parses the escape after a backslash, including `\u` surrogate pairs.
  private mutating func parseEscape() throws -> Unicode.Scalar {
    guard index < bytes.count else { throw failure("unterminated string") }
    let byte = bytes[index]
    index += 1
    switch byte {
    case UInt8(ascii: "\""): return "\""
    case UInt8(ascii: "\\"): return "\\"
    case UInt8(ascii: "/"): return "/"
    case UInt8(ascii: "b"): return "\u{08}"
    case UInt8(ascii: "f"): return "\u{0C}"
    case UInt8(ascii: "n"): return "\n"
    case UInt8(ascii: "r"): return "\r"
    case UInt8(ascii: "t"): return "\t"
    case UInt8(ascii: "u"):
      var value = try parseHexQuad()
      if (0xD800..<0xDC00).contains(value) {
        guard bytes[index...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")]) else {
          throw failure("unpaired surrogate in a \\u escape")
        }
        index += 2
        let low = try parseHexQuad()
        guard (0xDC00..<0xE000).contains(low) else {
          throw failure("unpaired surrogate in a \\u escape")
        }
        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
      }
      guard let scalar = Unicode.Scalar(value) else {
        throw failure("unpaired surrogate in a \\u escape")
      }
      return scalar
    default:
      index -= 1
      throw failure("invalid escape")
    }
  }

  private mutating func parseHexQuad() throws -> UInt32 {
    guard index + 4 <= bytes.count else { throw failure("incomplete \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let digit = Character(Unicode.Scalar(bytes[index])).hexDigitValue else {
        throw failure("invalid hex digit in a \\u escape")
      }
      value = value << 4 | UInt32(digit)
      index += 1
    }
    return value
  }

  private mutating func parseNumber() throws -> SafetensorsJSON {
    let start = index
    var isInteger = true
    if bytes[index] == UInt8(ascii: "-") { index += 1 }
    if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
      index += 1
    } else {
      try skipDigits()
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
      isInteger = false
      index += 1
      try skipDigits()
    }
    if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
      isInteger = false
      index += 1
      if index < bytes.count, [UInt8(ascii: "+"), UInt8(ascii: "-")].contains(bytes[index]) {
        index += 1
      }
      try skipDigits()
    }
    if isInteger, let value = Int(String(decoding: bytes[start..<index], as: UTF8.self)) {
      return .integer(value)
    }
    return .number
  }

  /// Skips one or more decimal digits.
  private mutating func skipDigits() throws {
    let start = index
    while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
      index += 1
    }
    guard index > start else { throw failure("expected a digit") }
  }
}
