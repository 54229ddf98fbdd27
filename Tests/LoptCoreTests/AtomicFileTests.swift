import Foundation
import LoptCore
import Testing

@Suite struct AtomicFileTests {
  @Test func createsAndReplacesFilesLeavingNoTemporaries() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let url = directory.file("metrics.jsonl")
    try AtomicFile.write([1, 2, 3] as [UInt8], to: url)
    #expect(try Data(contentsOf: url) == Data([1, 2, 3]))
    try AtomicFile.write("new content\n", to: url)
    #expect(try String(contentsOf: url, encoding: .utf8) == "new content\n")
    try AtomicFile.write(Data(), to: url)
    #expect(try Data(contentsOf: url).isEmpty)
    #expect(try directory.entries() == ["metrics.jsonl"])
  }

  @Test func readersSeeTheOldOrTheNewFileNeverAMixture() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let url = directory.file("checkpoint.bin")
    let contents = [UInt8(ascii: "a"), UInt8(ascii: "b")].map {
      Data(repeating: $0, count: 1 << 20)
    }
    try AtomicFile.write(contents[0], to: url)
    let isWriting = Flag(true)
    let writer = Task.detached {
      defer { isWriting.set(false) }
      for round in 1...40 { try AtomicFile.write(contents[round % 2], to: url) }
    }
    var readCount = 0
    var badReads = 0
    while isWriting.value {
      let data = try Data(contentsOf: url)
      if !contents.contains(data) { badReads += 1 }
      readCount += 1
    }
    try await writer.value
    #expect(badReads == 0, "\(badReads) of \(readCount) reads saw a partial file")
    #expect(try Data(contentsOf: url) == contents[0])
    #expect(try directory.entries() == ["checkpoint.bin"])
  }

  @Test func failuresNameThePathAndLeaveNoTemporaries() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let missing = directory.file("no/such/dir/file.bin")
    let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write("x", to: missing) }
    #expect(error?.path == missing.path)
    #expect(error?.code == ENOENT)
    #expect(
      error?.description.hasPrefix(
        "cannot write \(missing.path): creation of a temporary file failed") == true)

    // Renaming a file over a non-empty directory fails; the directory must survive intact.
    let occupied = directory.file("occupied")
    try FileManager.default.createDirectory(at: occupied, withIntermediateDirectories: false)
    try AtomicFile.write("keep", to: occupied.appendingPathComponent("inner"))
    let renameError = #expect(throws: AtomicFileError.self) {
      try AtomicFile.write("x", to: occupied)
    }
    #expect(renameError?.step == "rename over the destination")
    #expect(try directory.entries() == ["occupied"])
    #expect(
      try String(contentsOf: occupied.appendingPathComponent("inner"), encoding: .utf8) == "keep")
  }
}

/// A Boolean shared between threads.
final class Flag: @unchecked Sendable {
  private let lock = NSLock()
  private var storedValue: Bool

  init(_ value: Bool) { storedValue = value }

  var value: Bool { lock.withLock { storedValue } }

  func set(_ value: Bool) { lock.withLock { storedValue = value } }
}
