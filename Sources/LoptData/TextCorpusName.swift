/// The text corpora LoptData can load, by the name used on the command line.
public enum TextCorpusName: String, CaseIterable, Sendable {
  /// Jane Austen's six novels (`text/austen.txt` in a data folder, 4,025,029 bytes): train on
  /// the first five (bytes 0..<3,558,175), validate on *Persuasion* (the last 466,854 bytes).
  case austen
  /// The shipped slice of Austen: train on all of *Pride and Prejudice* (bytes
  /// 673,688..<1,358,456 of `austen.txt`, 684,768 bytes), validate on the first 200,000
  /// bytes of *Persuasion* (3,558,175..<3,758,175).
  case austenSmall = "austen-small"

  /// Every file the corpus is read from, as paths relative to a data folder.
  public var relativePaths: [String] {
    switch self {
    case .austen: ["text/austen.txt"]
    case .austenSmall: ["text/austen-small-train.txt.gz", "text/austen-small-valid.txt.gz"]
    }
  }

  /// The size of the full `text/austen.txt`.
  static let austenByteCount = 4_025_029
  /// Where *Persuasion* starts in `text/austen.txt`.
  static let persuasionOffset = 3_558_175
}
