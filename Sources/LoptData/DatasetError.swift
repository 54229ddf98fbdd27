/// A data file that is missing or does not hold what it should.
///
/// Every case names the file, says what was expected and what was found, and its
/// ``description`` ends with what to do about it.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
  /// No place searched holds `file`; `searched` lists each full path tried and where that
  /// place came from, for example `/data/mnist/x.gz (--data-dir)`.
  case fileNotFound(file: String, searched: [String])
  /// The file exists but could not be read.
  case unreadable(path: String, reason: String)
  /// The file ends early: its header or format implies `expectedBytes`, it holds `foundBytes`.
  case truncated(path: String, expectedBytes: Int, foundBytes: Int)
  /// The file holds more bytes than its header implies (IDX files must be exact).
  case trailingBytes(path: String, expectedBytes: Int, foundBytes: Int)
  /// The file does not start with the magic number of its format.
  case badMagicNumber(path: String, expected: String, found: String)
  /// The IDX header names an element type other than uint8 (`0x08`) or float32 (`0x0D`).
  case unsupportedElementType(path: String, code: UInt8)
  /// The gzip stream ends before its end marker: the file was cut short.
  case gzipTruncated(path: String, compressedBytes: Int)
  /// zlib rejected the gzip stream (bad header, bad data or checksum, trailing garbage).
  case gzipCorrupt(path: String, reason: String)
  /// The file holds, or its gzip stream inflates to, more than `limit` bytes.
  case tooLarge(path: String, limit: Int)
  /// The file's shape is not the one its data set needs (also: images and labels disagree).
  case shapeMismatch(path: String, expected: String, found: String)
  /// A label is outside `0..<classCount`.
  case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)

  /// Throws `.truncated` or `.trailingBytes` unless a file of `path` holds exactly
  /// `expected` bytes.
  static func checkByteCount(_ found: Int, expected: Int, path: String) throws {
    if found < expected {
      throw DatasetError.truncated(path: path, expectedBytes: expected, foundBytes: found)
    }
    if found > expected {
      throw DatasetError.trailingBytes(path: path, expectedBytes: expected, foundBytes: found)
    }
  }

  /// The message shown to users: the file, what was expected and found, and what to do.
  public var description: String {
    let refetch = "re-create or re-download the file (see LoptData's LICENSES.md for origins)"
    switch self {
    case .fileNotFound(let file, let searched):
      return """
        data file '\(file)' not found; looked in:
        \(searched.map { "  - \($0)" }.joined(separator: "\n"))
        Pass --data-dir DIR or set LOPT_DATA_DIR to a folder holding '\(file)' (same layout \
        as the project's shared data folder: mnist/, fashion-mnist/, digits/, text/, \
        cifar-10-batches-bin/).
        """
    case .unreadable(let path, let reason):
      return "cannot read data file '\(path)': \(reason); check that it is a readable file"
    case .truncated(let path, let expected, let found):
      return "data file '\(path)' is truncated: expected \(expected) bytes, found \(found); "
        + refetch
    case .trailingBytes(let path, let expected, let found):
      return "data file '\(path)' has trailing bytes: its header implies \(expected) bytes, "
        + "found \(found); \(refetch)"
    case .badMagicNumber(let path, let expected, let found):
      return "data file '\(path)' has a bad magic number: expected \(expected), found \(found); "
        + "is it the right file? otherwise \(refetch)"
    case .unsupportedElementType(let path, let code):
      return "IDX file '\(path)' has element type 0x\(String(code, radix: 16, uppercase: true)); "
        + "only uint8 (0x08) and float32 (0x0D) are supported; convert the file to one of them"
    case .gzipTruncated(let path, let bytes):
      return "gzip file '\(path)' is truncated: the compressed stream ends early after "
        + "\(bytes) bytes; \(refetch)"
    case .gzipCorrupt(let path, let reason):
      return "gzip file '\(path)' is corrupt (\(reason)); \(refetch)"
    case .tooLarge(let path, let limit):
      return "data file '\(path)' holds or inflates to more than \(limit) bytes, the most a "
        + "data file may have (a gzip bomb, or not a data set file); \(refetch)"
    case .shapeMismatch(let path, let expected, let found):
      return "data file '\(path)' has the wrong shape: expected \(expected), found \(found); "
        + "check that the file belongs to this data set"
    case .labelOutOfRange(let path, let index, let label, let classCount):
      return "label file '\(path)': label \(index) is \(label), expected 0..<\(classCount); "
        + "check that the file belongs to this data set"
    }
  }
}
