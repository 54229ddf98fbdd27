import CZlib
import Foundation
import LoptCore

/// Reading data files from disk, gunzipping them when they start with the gzip magic number.
///
/// No file may hold or inflate to more than ``maximumBytes``, and a reader that knows its
/// size from a header can stop inflation there, so a gzip bomb costs no more memory than the
/// file it pretends to be.
enum DataFile {
  /// The most bytes a data file may hold once decompressed: 128 MiB, over twice the largest
  /// data set file (MNIST's training images, 47 MB).
  static let maximumBytes = 128 << 20

  /// Returns the bytes of the file at `url`, decompressed if it is gzipped (`1f 8b`).
  ///
  /// - Parameters:
  ///   - url: the file.
  ///   - expectedSize: given the bytes decompressed so far, the file's full size when the
  ///     prefix tells it (an IDX header), else `nil`; inflation stops one byte past it.
  /// - Returns: the file's bytes, decompressed.
  /// - Throws: ``DatasetError`` `.fileNotFound`, `.unreadable`, `.tooLarge`, `.gzipTruncated`
  ///   or `.gzipCorrupt`.
  static func read(_ url: URL, expectedSize: ([UInt8]) -> Int? = { _ in nil }) throws -> [UInt8] {
    let path = url.path
    guard FileManager.default.fileExists(atPath: path) else {
      throw DatasetError.fileNotFound(file: path, searched: [path])
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    guard size <= maximumBytes else {
      throw DatasetError.tooLarge(path: path, limit: maximumBytes)
    }
    let bytes: [UInt8]
    do {
      bytes = [UInt8](try FileContents.read(url))
    } catch let error as FileReadError {
      throw DatasetError.unreadable(path: path, reason: error.reason)
    }
    guard bytes.starts(with: [0x1F, 0x8B]) else { return bytes }
    return try gunzip(bytes, path: path, expectedSize: expectedSize)
  }

  /// Decompresses a gzip file with zlib (`windowBits` 15 + 32: gzip or zlib header).
  ///
  /// Concatenated gzip members are decoded one after another, as `gunzip` does; any other
  /// bytes after the end of the stream are rejected as `.gzipCorrupt`. Inflation stops with
  /// `.tooLarge` past ``maximumBytes``, and one byte past `expectedSize` (the caller's parser
  /// then reports the trailing bytes).
  static func gunzip(
    _ input: [UInt8], path: String, expectedSize: ([UInt8]) -> Int? = { _ in nil }
  ) throws -> [UInt8] {
    var stream = z_stream()
    let initialised = inflateInit2_(
      &stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initialised == Z_OK else {
      throw DatasetError.gzipCorrupt(path: path, reason: "zlib failed to initialise")
    }
    defer { inflateEnd(&stream) }

    var output: [UInt8] = []
    output.reserveCapacity(sizeHint(input))
    var limit: Int?
    let chunk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 18)
    defer { chunk.deallocate() }
    try input.withUnsafeBufferPointer { source in
      stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
      stream.avail_in = UInt32(source.count)
      while true {
        stream.next_out = chunk.baseAddress
        stream.avail_out = UInt32(chunk.count)
        let status = inflate(&stream, Z_NO_FLUSH)
        output.append(contentsOf: chunk.prefix(chunk.count - Int(stream.avail_out)))
        limit = limit ?? expectedSize(output).map { min(max($0, 0), maximumBytes) }
        if let limit, output.count > limit {
          output.removeLast(output.count - limit - 1)
          return
        }
        if output.count > maximumBytes {
          throw DatasetError.tooLarge(path: path, limit: maximumBytes)
        }
        switch status {
        case Z_STREAM_END:
          if stream.avail_in == 0 { return }
          inflateReset(&stream)  // another gzip member follows
        case Z_OK, Z_BUF_ERROR:
          if stream.avail_in == 0 && stream.avail_out > 0 {
            throw DatasetError.gzipTruncated(path: path, compressedBytes: source.count)
          }
        default:
          let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
          throw DatasetError.gzipCorrupt(path: path, reason: reason)
        }
      }
    }
    return output
  }

  /// The uncompressed size recorded in the gzip trailer (modulo 2³²), bounded by deflate's
  /// largest ratio (1032:1) and ``maximumBytes`` so a damaged trailer cannot reserve more.
  private static func sizeHint(_ input: [UInt8]) -> Int {
    guard input.count >= 18 else { return 0 }
    let isize = input.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
    return min(isize, 1032 * input.count, maximumBytes)
  }
}
