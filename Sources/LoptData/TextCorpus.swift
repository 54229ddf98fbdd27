import Foundation

/// A byte-level text corpus: training and validation bytes over a vocabulary of 256 tokens.
///
/// Each byte is a token, so UTF-8 text needs no tokenizer and every file is valid input.
public struct TextCorpus: Sendable {
  /// The number of distinct tokens: every byte value.
  public static let vocabularySize = 256

  /// The training bytes.
  public var train: [UInt8]
  /// The validation bytes.
  public var valid: [UInt8]

  /// Creates a corpus from its training and validation bytes.
  public init(train: [UInt8], valid: [UInt8]) {
    self.train = train
    self.valid = valid
  }

  /// Loads a named corpus from the first place `locator` finds its files.
  ///
  /// - Throws: ``DatasetError`` for a missing, unreadable or corrupt file, or a
  ///   `text/austen.txt` whose size is not the expected 4,025,029 bytes.
  public static func load(
    _ name: TextCorpusName, locator: DataLocator = DataLocator()
  ) throws -> TextCorpus {
    switch name {
    case .austen:
      let url = try locator.url(for: name.relativePaths[0])
      let text = try DataFile.read(url) { _ in TextCorpusName.austenByteCount }
      try DatasetError.checkByteCount(
        text.count, expected: TextCorpusName.austenByteCount, path: url.path)
      let split = TextCorpusName.persuasionOffset
      return TextCorpus(train: Array(text[..<split]), valid: Array(text[split...]))
    case .austenSmall:
      return TextCorpus(
        train: try DataFile.read(locator.url(for: name.relativePaths[0])),
        valid: try DataFile.read(locator.url(for: name.relativePaths[1])))
    }
  }
}
