import Foundation
import LoptData
import Testing

@Suite struct TextCorpusTests {
  @Test func austenSplitsBeforePersuasion() throws {
    let folder = try TemporaryDirectory()
    var text = [UInt8](repeating: UInt8(ascii: "a"), count: 4_025_029)
    text[3_558_175] = UInt8(ascii: "P")
    try folder.write(text, to: "text/austen.txt")
    let corpus = try TextCorpus.load(.austen, locator: folder.locator)
    #expect(corpus.train.count == 3_558_175)
    #expect(corpus.valid.count == 466_854)
    #expect(corpus.valid.first == UInt8(ascii: "P"))
  }

  @Test func rejectsAustenOfTheWrongSize() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write([UInt8](repeating: 32, count: 1000), to: "text/austen.txt")
    let error = expectDatasetError(mentioning: url.path) {
      _ = try TextCorpus.load(.austen, locator: folder.locator)
    }
    #expect(error == .truncated(path: url.path, expectedBytes: 4_025_029, foundBytes: 1000))
  }
}
