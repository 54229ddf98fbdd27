import CZlib
import Foundation
import LoptTestSupport
import Testing

@testable import LoptData

/// Data files a careless or hostile user could point `--data-dir` at.
@Suite struct HostileDataFileTests {
  /// A gzip stream of `count` zero bytes after `prefix`, compressed as hard as deflate can
  /// (about 1000:1), built in 1 MiB pieces so the test never holds the inflated bytes.
  static func gzipBomb(prefix: [UInt8], zeros count: Int) -> [UInt8] {
    var stream = z_stream()
    _ = deflateInit2_(
      &stream, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY, zlibVersion(),
      Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&stream) }
    var output: [UInt8] = []
    var out = [UInt8](repeating: 0, count: 1 << 16)
    func feed(_ input: [UInt8], flush: Int32) {
      var input = input
      input.withUnsafeMutableBufferPointer { source in
        stream.next_in = source.baseAddress
        stream.avail_in = UInt32(source.count)
        repeat {
          out.withUnsafeMutableBufferPointer { buffer in
            stream.next_out = buffer.baseAddress
            stream.avail_out = UInt32(buffer.count)
            _ = deflate(&stream, flush)
            output += buffer.prefix(buffer.count - Int(stream.avail_out))
          }
        } while stream.avail_out == 0
      }
    }
    feed(prefix, flush: Z_NO_FLUSH)
    let piece = [UInt8](repeating: 0, count: 1 << 20)
    for _ in 0..<(count >> 20) { feed(piece, flush: Z_NO_FLUSH) }
    feed([], flush: Z_FINISH)
    return output
  }

  @Test func anIDXGzipBombInflatesOnlyAsFarAsItsHeaderSays() throws {
    let folder = try TemporaryDirectory()
    let header = idxBytes(type: 0x08, shape: [2, 4], payload: [])
    let bomb = Self.gzipBomb(prefix: header, zeros: DataFile.maximumBytes + (2 << 20))
    #expect(bomb.count < 256 << 10)
    let url = try folder.write(bomb, to: "bomb-idx1-ubyte.gz")
    let error = expectDatasetError(mentioning: url.path) { _ = try IDXArray(contentsOf: url) }
    guard case .trailingBytes(_, let expected, let found)? = error else {
      Issue.record("expected trailing bytes, got \(String(describing: error))")
      return
    }
    #expect(expected == 20 && found == 21)
  }

  @Test func aGzipBombWithoutAHeaderStopsAtTheLimit() throws {
    let folder = try TemporaryDirectory()
    let bomb = Self.gzipBomb(prefix: [], zeros: DataFile.maximumBytes + (2 << 20))
    let url = try folder.write(bomb, to: "text/austen-small-train.txt.gz")
    let error = expectDatasetError(mentioning: url.path) {
      _ = try TextCorpus.load(.austenSmall, locator: folder.locator)
    }
    #expect(error == .tooLarge(path: url.path, limit: DataFile.maximumBytes))
  }

  @Test func aDirectoryWhereAFileShouldBeIsAnErrorNamingIt() throws {
    let folder = try TemporaryDirectory()
    let directory = folder.url.appendingPathComponent("text/austen.txt")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let error = expectDatasetError(mentioning: directory.path) {
      _ = try TextCorpus.load(.austen, locator: folder.locator)
    }
    #expect(error?.description.contains("is a folder, not a file") == true)
  }

  /// 2,000 mutations of a small IDX file, plain and gzipped: reading only throws
  /// `DatasetError`, and whatever reads has exactly the bytes its header implies.
  @Test func fuzzedIDXFilesOnlyThrow() throws {
    let folder = try TemporaryDirectory()
    let plain = idxBytes(type: 0x08, shape: [3, 2, 2], payload: Array(0..<12))
    let float = idxBytes(type: 0x0D, shape: [2], payload: [0x3F, 0x80, 0, 0, 0x40, 0, 0, 0])
    let seeds = [plain, float, gzipStored(plain), Self.gzipBomb(prefix: float, zeros: 0)]
    var mutator = Mutator(seed: 11)
    var (read, failed) = (0, 0)
    for round in 0..<2000 {
      let url = try folder.write(mutator.mutate(seeds[round % seeds.count]), to: "fuzz")
      do {
        let array = try IDXArray(contentsOf: url)
        #expect(array.count * array.elementType.byteCount + 4 + 4 * array.rank <= 1024)
        read += 1
      } catch is DatasetError {
        failed += 1
      }
    }
    #expect(read + failed == 2000)
    #expect(read > 20 && failed > 1000, "read \(read), failed \(failed)")
  }
}
