import Foundation
import LoptCore
import LoptData
import Testing

@Suite struct IDXArrayTests {
  @Test func readsPlainUInt8File() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(
      idxBytes(type: 0x08, shape: [2, 2, 3], payload: (0..<12).map(UInt8.init)), to: "a.idx")
    let array = try IDXArray(contentsOf: url)
    #expect(array.elementType == .uint8)
    #expect(array.shape == [2, 2, 3])
    #expect(array[flat: 7] == 7)
    #expect(
      array.makeTensor(rows: 1..<2, scale: 0.5)
        == Tensor(shape: [1, 2, 3], scalars: [3, 3.5, 4, 4.5, 5, 5.5]))
  }

  @Test func readsGzippedFloat32File() throws {
    let values: [Float] = [1.5, -2, 0.25, 1e-3]
    let payload = values.flatMap { bigEndianBytes($0.bitPattern) }
    let folder = try TemporaryDirectory()
    let url = try folder.write(
      gzipStored(idxBytes(type: 0x0D, shape: [2, 2], payload: payload)), to: "f.idx.gz")
    let array = try IDXArray(contentsOf: url)
    #expect(array.elementType == .float32)
    #expect(array.makeTensor(rows: 0..<2) == Tensor(shape: [2, 2], scalars: values))
  }

  @Test func decodesConcatenatedGzipMembers() throws {
    let file = idxBytes(type: 0x08, shape: [5], payload: [9, 8, 7, 6, 5])
    let folder = try TemporaryDirectory()
    let url = try folder.write(
      gzipStored(Array(file.prefix(7))) + gzipStored(Array(file.dropFirst(7))), to: "m.gz")
    #expect(try IDXArray(contentsOf: url).makeTensor(rows: 0..<5) == Tensor([9, 8, 7, 6, 5]))
  }

  @Test func rejectsMissingFile() throws {
    let folder = try TemporaryDirectory()
    let path = folder.url.appendingPathComponent("missing.idx").path
    let error = expectDatasetError(mentioning: path) {
      _ = try IDXArray(contentsOf: URL(fileURLWithPath: path))
    }
    #expect(error == .fileNotFound(file: path, searched: [path]))
  }

  @Test func rejectsTruncatedPayload() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(
      idxBytes(type: 0x08, shape: [3, 4], payload: [UInt8](repeating: 1, count: 11)), to: "t.idx")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(error == .truncated(path: url.path, expectedBytes: 12 + 12, foundBytes: 12 + 11))
  }

  @Test func rejectsTruncatedHeader() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write([0, 0, 8, 3, 0, 0, 0, 2], to: "h.idx")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(error == .truncated(path: url.path, expectedBytes: 16, foundBytes: 8))
  }

  @Test func rejectsTrailingBytes() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(idxBytes(type: 0x08, shape: [2], payload: [1, 2, 3]), to: "x.idx")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(error == .trailingBytes(path: url.path, expectedBytes: 10, foundBytes: 11))
  }

  @Test func rejectsBadMagicNumber() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write([0x50, 0x4B, 0x03, 0x04, 0, 0], to: "zip.idx")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(
      error
        == .badMagicNumber(
          path: url.path, expected: "00 00 <type> <rank> (IDX)", found: "50 4b 03 04"))
  }

  @Test func rejectsUnsupportedElementType() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(idxBytes(type: 0x0B, shape: [1], payload: [0, 1]), to: "s.idx")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(error == .unsupportedElementType(path: url.path, code: 0x0B))
    #expect(error?.description.contains("0xB") == true)
  }

  @Test func rejectsGzipStreamEndingEarly() throws {
    let gzip = gzipStored(idxBytes(type: 0x08, shape: [100], payload: Array(0..<100)))
    let folder = try TemporaryDirectory()
    let url = try folder.write(Array(gzip.dropLast(30)), to: "cut.gz")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(error == .gzipTruncated(path: url.path, compressedBytes: gzip.count - 30))
  }

  @Test func rejectsTruncatedCompressedFile() throws {
    let shipped = try #require(DataLocator.shippedDirectory)
    let original = try Data(
      contentsOf: shipped.appendingPathComponent("digits/test-images-8x8-idx3-ubyte.gz"))
    let folder = try TemporaryDirectory()
    let url = try folder.write(Array(original.prefix(original.count / 2)), to: "half.gz")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    #expect(error == .gzipTruncated(path: url.path, compressedBytes: original.count / 2))
  }

  @Test(arguments: ["flipped data", "bad checksum", "trailing garbage"])
  func rejectsCorruptGzip(damage: String) throws {
    var gzip = gzipStored(idxBytes(type: 0x08, shape: [4], payload: [1, 2, 3, 4]))
    switch damage {
    case "flipped data": gzip[10] = 0x07  // an invalid deflate block type (11)
    case "bad checksum": gzip[gzip.count - 8] ^= 0xFF
    default: gzip += [0x42, 0x42, 0x42]
    }
    let folder = try TemporaryDirectory()
    let url = try folder.write(gzip, to: "bad.gz")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    guard case .gzipCorrupt(let path, _) = error else {
      Issue.record("expected gzipCorrupt, got \(String(describing: error))")
      return
    }
    #expect(path == url.path)
  }
}
