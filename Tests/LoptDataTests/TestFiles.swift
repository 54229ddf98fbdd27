import Foundation
import LoptData
import Testing

/// A fresh temporary folder, removed when the value is released.
final class TemporaryDirectory {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory
      .appendingPathComponent("LoptDataTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: url) }

  /// Writes `bytes` to `name` (a relative path; folders are created) and returns its URL.
  @discardableResult
  func write(_ bytes: [UInt8], to name: String) throws -> URL {
    let file = url.appendingPathComponent(name)
    try FileManager.default.createDirectory(
      at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: file)
    return file
  }

  /// A locator that searches only this folder.
  var locator: DataLocator {
    DataLocator(roots: [DataLocator.Root(directory: url, origin: "test folder")])
  }
}

/// An IDX file: `00 00 type rank`, big-endian extents, then `payload`.
func idxBytes(type: UInt8, shape: [Int], payload: [UInt8]) -> [UInt8] {
  [0, 0, type, UInt8(shape.count)] + shape.flatMap { bigEndianBytes(UInt32($0)) } + payload
}

func bigEndianBytes(_ value: UInt32) -> [UInt8] {
  (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
}

/// A gzip member holding `bytes` in stored (uncompressed) deflate blocks, written by hand so
/// the decoder is tested against a stream it did not make.
func gzipStored(_ bytes: [UInt8]) -> [UInt8] {
  var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
  var start = 0
  repeat {
    let end = min(start + 65_535, bytes.count)
    let length = UInt16(end - start)
    out.append(end == bytes.count ? 1 : 0)  // BFINAL, BTYPE = 00 (stored)
    out += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
    out += bytes[start..<end]
    start = end
  } while start < bytes.count
  return out + littleEndianBytes(crc32(bytes)) + littleEndianBytes(UInt32(bytes.count))
}

func littleEndianBytes(_ value: UInt32) -> [UInt8] {
  (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// CRC-32 (IEEE 802.3, reflected, as in gzip).
func crc32(_ bytes: [UInt8]) -> UInt32 {
  var crc: UInt32 = 0xFFFF_FFFF
  for byte in bytes {
    crc ^= UInt32(byte)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
  }
  return ~crc
}

/// Runs `body`, expects it to throw a ``DatasetError`` whose message names `path`, and
/// returns the error for further checks.
@discardableResult
func expectDatasetError(
  mentioning path: String, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) -> DatasetError? {
  let error = #expect(throws: DatasetError.self, sourceLocation: sourceLocation) { try body() }
  if let error {
    #expect(
      error.description.contains(path), "message does not name \(path): \(error)",
      sourceLocation: sourceLocation)
  }
  return error
}

/// How many labels of each class `0..<classCount` there are.
func classCounts(_ labels: [Int32], classCount: Int = 10) -> [Int] {
  labels.reduce(into: [Int](repeating: 0, count: classCount)) { $0[Int($1)] += 1 }
}
