import CZlib
import Foundation

/// Reading data files from disk, gunzipping them when they start with the gzip magic number.
enum DataFile {
  /// Returns the bytes of the file at `url`, decompressed if it is gzipped (`1f 8b`).
  ///
  /// - Throws: ``DatasetError`` `.fileNotFound`, `.unreadable`, `.gzipTruncated` or
  ///   `.gzipCorrupt`.
  static func read(_ url: URL) throws -> [UInt8] {
    let path = url.path
    guard FileManager.default.fileExists(atPath: path) else {
      throw DatasetError.fileNotFound(file: path, searched: [path])
    }
    let bytes: [UInt8]
    do {
      bytes = [UInt8](try Data(contentsOf: url))
    } catch {
      throw DatasetError.unreadable(path: path, reason: "\(error)")
    }
    return bytes.starts(with: [0x1F, 0x8B]) ? try gunzip(bytes, path: path) : bytes
  }

  /// Decompresses a gzip file with zlib (`windowBits` 15 + 32: gzip or zlib header).
  ///
  /// Concatenated gzip members are decoded one after another, as `gunzip` does; any other
  /// bytes after the end of the stream are rejected as `.gzipCorrupt`.
  static func gunzip(_ input: [UInt8], path: String) throws -> [UInt8] {
    var stream = z_stream()
    let initialised = inflateInit2_(
      &stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initialised == Z_OK else {
      throw DatasetError.gzipCorrupt(path: path, reason: "zlib failed to initialise")
    }
    defer { inflateEnd(&stream) }

    var output: [UInt8] = []
    output.reserveCapacity(sizeHint(input))
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
  /// largest ratio (1032:1) so a damaged trailer cannot reserve more than that.
  private static func sizeHint(_ input: [UInt8]) -> Int {
    guard input.count >= 18 else { return 0 }
    let isize = input.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
    return min(isize, 1032 * input.count)
  }
}
