import Foundation
import LoptCore

/// An array read from an IDX file (the MNIST file format), plain or gzipped.
///
/// The format: two zero bytes, an element-type byte, the rank `d`, then `d` big-endian
/// `UInt32` extents and the elements in row-major order, big-endian:
///
/// ```
/// 00 00 | type (0x08 uint8, 0x0D float32) | d | d × UInt32 extent | elements
/// ```
///
/// A gzipped file (it starts with `1f 8b`) is decompressed first. The element bytes must be
/// exactly as many as the extents imply: fewer throw `.truncated`, more throw
/// `.trailingBytes`, since either means the file is not what its header says.
public struct IDXArray: Sendable {
  /// The element types this reader understands; the raw value is the IDX type code.
  public enum ElementType: UInt8, Sendable {
    /// Unsigned bytes, code `0x08`.
    case uint8 = 0x08
    /// IEEE 754 single precision, big-endian, code `0x0D`.
    case float32 = 0x0D

    /// The size of one element in bytes.
    public var byteCount: Int { self == .uint8 ? 1 : 4 }
  }

  /// The type of the stored elements.
  public let elementType: ElementType
  /// The extent of each axis, from the header.
  public let shape: [Int]
  /// The path the array was read from, for error messages.
  public let path: String
  /// The decompressed file; the elements start at `payloadOffset`.
  private let bytes: [UInt8]
  private let payloadOffset: Int

  /// Reads and checks the IDX file at `url` (gzipped or plain).
  ///
  /// - Throws: ``DatasetError``: `.fileNotFound`, `.unreadable`, `.gzipTruncated`,
  ///   `.gzipCorrupt`, `.truncated`, `.trailingBytes`, `.badMagicNumber` or
  ///   `.unsupportedElementType`.
  public init(contentsOf url: URL) throws {
    let path = url.path
    let bytes = try DataFile.read(url) { try? Self.header(of: $0, path: path).fileByteCount }
    try self.init(bytes: bytes, path: path)
  }

  /// Parses the (decompressed) bytes of an IDX file; `path` is used in error messages.
  init(bytes: [UInt8], path: String) throws {
    let header = try Self.header(of: bytes, path: path)
    try DatasetError.checkByteCount(bytes.count, expected: header.fileByteCount, path: path)
    self.elementType = header.elementType
    self.shape = header.shape
    self.path = path
    self.bytes = bytes
    self.payloadOffset = header.byteCount
  }

  /// The element type, shape, header size and whole-file size (`Int.max` when the extents
  /// overflow) a file's first bytes declare.
  private static func header(
    of bytes: [UInt8], path: String
  ) throws -> (elementType: ElementType, shape: [Int], byteCount: Int, fileByteCount: Int) {
    guard bytes.count >= 4 else {
      throw DatasetError.truncated(path: path, expectedBytes: 4, foundBytes: bytes.count)
    }
    guard bytes[0] == 0, bytes[1] == 0 else {
      let found = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
      throw DatasetError.badMagicNumber(
        path: path, expected: "00 00 <type> <rank> (IDX)", found: found)
    }
    guard let type = ElementType(rawValue: bytes[2]) else {
      throw DatasetError.unsupportedElementType(path: path, code: bytes[2])
    }
    let rank = Int(bytes[3])
    let headerCount = 4 + 4 * rank
    guard bytes.count >= headerCount else {
      throw DatasetError.truncated(path: path, expectedBytes: headerCount, foundBytes: bytes.count)
    }
    let shape = (0..<rank).map { axis in
      bytes[(4 + 4 * axis)..<(8 + 4 * axis)].reduce(0) { $0 << 8 | Int($1) }
    }
    // Extents are below 2³², so the size can only overflow for absurd headers.
    let (total, overflow) = shape.reduce((type.byteCount, false)) {
      let product = $0.0.multipliedReportingOverflow(by: $1)
      return (product.partialValue, $0.1 || product.overflow)
    }
    let (fileCount, sumOverflow) = total.addingReportingOverflow(headerCount)
    return (type, shape, headerCount, overflow || sumOverflow ? Int.max : fileCount)
  }

  /// The number of axes.
  public var rank: Int { shape.count }

  /// The number of elements (the product of the shape).
  public var count: Int { shape.reduce(1, *) }

  /// The element at a flat (row-major) index, converted to `Float` (exact for uint8).
  public subscript(flat index: Int) -> Float {
    precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
    return element(at: payloadOffset + index * elementType.byteCount)
  }

  /// Returns the rows `rows` of the first axis as a tensor of shape
  /// `[rows.count] + shape.dropFirst()`, every element multiplied by `scale`.
  ///
  /// - Complexity: O(`rows.count` × row size); allocates the result only.
  public func makeTensor(rows: Range<Int>, scale: Float = 1) -> Tensor {
    precondition(rank > 0, "a scalar IDX file has no rows")
    precondition(
      rows.lowerBound >= 0 && rows.upperBound <= shape[0],
      "rows \(rows) out of range 0..<\(shape[0]) in \(path)")
    let rowCount = count / max(shape[0], 1)
    var tensor = Tensor(shape: [rows.count] + shape.dropFirst())
    let width = elementType.byteCount
    let start = payloadOffset + rows.lowerBound * rowCount * width
    tensor.withUnsafeMutableBufferPointer { out in
      if elementType == .uint8 {
        bytes.withUnsafeBufferPointer { source in
          for i in 0..<out.count { out[i] = Float(source[start + i]) * scale }
        }
      } else {
        for i in 0..<out.count { out[i] = element(at: start + i * width) * scale }
      }
    }
    return tensor
  }

  private func element(at offset: Int) -> Float {
    switch elementType {
    case .uint8:
      return Float(bytes[offset])
    case .float32:
      let bits = bytes[offset..<(offset + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      return Float(bitPattern: bits)
    }
  }
}
