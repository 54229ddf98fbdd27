import Foundation
import LoptCore
import Testing

@Suite struct FileContentsTests {
  @Test func unreadablePathsAreNamedInWordsNotCocoaCodes() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let missing = directory.file("missing.bin")
    #expect(throws: FileReadError(path: missing.path, reason: "does not exist")) {
      try FileContents.read(missing)
    }
    #expect(throws: FileReadError(path: directory.url.path, reason: "is a folder, not a file")) {
      try FileContents.read(directory.url)
    }
    let file = directory.file("data.bin")
    try Data([1, 2, 3]).write(to: file)
    #expect(try FileContents.read(file) == Data([1, 2, 3]))
    let error = #expect(throws: FileReadError.self) { try FileContents.read(missing) }
    #expect(error?.description.contains("NSCocoaErrorDomain") == false)
  }

  @Test func aFolderThatCannotBeCreatedIsNamedWithTheSystemsReason() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let file = directory.file("plain")
    try Data([0]).write(to: file)
    let inside = file.appendingPathComponent("cache")
    let error = #expect(throws: AtomicFileError.self) {
      try AtomicFile.createDirectory(at: inside)
    }
    #expect(error?.path == inside.path && error?.code == ENOTDIR)
    #expect(error?.description.contains("creation of the folder failed: Not a directory") == true)
    try AtomicFile.createDirectory(at: directory.file("a/b"))
    try AtomicFile.createDirectory(at: directory.file("a/b"))
    #expect(try directory.entries().contains("a"))
  }

  @Test func staleTemporaryFilesOfKilledWritesAreRemoved() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let names = [
      ".state-000000003.safetensors.0123abcd4567ef89.tmp", ".config.yaml.ff.tmp",
      "keep.tmp", ".keep.tmp", ".keep.notes.tmp", "config.yaml",
    ]
    for name in names { try Data([0]).write(to: directory.file(name)) }
    #expect(AtomicFile.removeStaleTemporaryFiles(in: directory.url, olderThan: 3600).isEmpty)
    let removed = AtomicFile.removeStaleTemporaryFiles(in: directory.url, olderThan: 0)
    #expect(Set(removed) == Set(names.prefix(2)))
    #expect(try directory.entries() == names.dropFirst(2).sorted())
  }
}
