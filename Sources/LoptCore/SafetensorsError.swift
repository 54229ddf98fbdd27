/// Why a safetensors file could not be read, or a tensor could not be taken out of it.
///
/// Errors thrown while reading a file on disk are wrapped in ``inFile(path:_:)``, so the
/// message names the file; ``underlying`` strips that wrapper for matching.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The file is shorter than the 8-byte header length.
  case fileTooShort(byteCount: Int)
  /// The header length runs past the end of the file.
  case headerBeyondFile(headerByteCount: UInt64, fileByteCount: Int)
  /// The header is not UTF-8, not JSON, or not a JSON object.
  case invalidHeader(reason: String)
  /// A tensor's header entry is malformed (not an object, a missing or ill-typed field).
  case invalidTensorEntry(tensor: String, reason: String)
  /// A tensor's dtype is not one this reader knows.
  case unknownDType(tensor: String, dtype: String)
  /// A tensor's shape and dtype need a different byte count than its `data_offsets` span.
  case sizeMismatch(
    tensor: String, dtype: SafetensorsFile.DType, shape: [Int], begin: Int, end: Int)
  /// A tensor's `data_offsets` are reversed or reach past the end of the data section.
  case offsetsOutOfRange(tensor: String, begin: Int, end: Int, dataByteCount: Int)
  /// A tensor's data does not start where the previous one's ends (an overlap or a hole).
  case nonContiguousData(tensor: String, begin: Int, expectedBegin: Int)
  /// The data section has bytes after the last tensor's data.
  case trailingData(byteCount: Int)
  /// Two header entries have the same tensor name.
  case duplicateTensor(String)
  /// The `__metadata__` entry is not an object of strings.
  case invalidMetadata(reason: String)
  /// No tensor has this name.
  case tensorNotFound(String)
  /// A tensor's dtype is not one the requested conversion accepts.
  case dtypeMismatch(
    tensor: String, dtype: SafetensorsFile.DType, expected: [SafetensorsFile.DType])
  /// A tensor's shape differs from the one a ``ParameterLayout`` expects.
  case shapeMismatch(tensor: String, expected: [Int], found: [Int])
  /// The file has tensors a ``ParameterLayout`` does not (listed in file order).
  case unexpectedTensors([String])
  /// The file could not be read at all.
  case unreadableFile(reason: String)
  /// Any other case, raised while reading the file at `path`.
  indirect case inFile(path: String, SafetensorsError)

  /// The path of the file the error came from, if known.
  public var path: String? {
    if case .inFile(let path, _) = self { return path }
    return nil
  }

  /// The error without its file wrapper.
  public var underlying: SafetensorsError {
    if case .inFile(_, let error) = self { return error.underlying }
    return self
  }

  /// Returns the error attributed to the file at `path`, unless it already names a file.
  func located(in path: String) -> SafetensorsError {
    if case .inFile = self { return self }
    return .inFile(path: path, self)
  }

  /// A one-line message naming the file (when known) and the tensor concerned.
  public var description: String {
    switch self {
    case .fileTooShort(let byteCount):
      return "the file has \(byteCount) bytes, fewer than the 8-byte header length"
    case .headerBeyondFile(let headerByteCount, let fileByteCount):
      return "the header length \(headerByteCount) runs past the end of the \(fileByteCount)-byte "
        + "file"
    case .invalidHeader(let reason):
      return "invalid header: \(reason)"
    case .invalidTensorEntry(let tensor, let reason):
      return "tensor '\(tensor)': \(reason)"
    case .unknownDType(let tensor, let dtype):
      return "tensor '\(tensor)': unknown dtype '\(dtype)'"
    case .sizeMismatch(let tensor, let dtype, let shape, let begin, let end):
      return "tensor '\(tensor)': shape \(shape) of \(dtype.rawValue) needs "
        + "\(SafetensorsFile.StoredTensor.byteCount(shape: shape, dtype: dtype)) bytes but "
        + "data_offsets [\(begin), \(end)] span \(end - begin)"
    case .offsetsOutOfRange(let tensor, let begin, let end, let dataByteCount):
      let problem =
        begin > end ? "are reversed" : "reach past the \(dataByteCount)-byte data section"
      return "tensor '\(tensor)': data_offsets [\(begin), \(end)] \(problem)"
    case .nonContiguousData(let tensor, let begin, let expectedBegin):
      let problem =
        begin < expectedBegin
        ? "overlaps the previous tensor's data, which ends at byte \(expectedBegin)"
        : "leaves bytes \(expectedBegin)..<\(begin) of the data section unused"
      return "tensor '\(tensor)': data starting at byte \(begin) \(problem)"
    case .trailingData(let byteCount):
      return "\(byteCount) bytes after the last tensor's data belong to no tensor"
    case .duplicateTensor(let tensor):
      return "tensor '\(tensor)' appears twice in the header"
    case .invalidMetadata(let reason):
      return "invalid __metadata__: \(reason)"
    case .tensorNotFound(let tensor):
      return "no tensor named '\(tensor)'"
    case .dtypeMismatch(let tensor, let dtype, let expected):
      let names = expected.map(\.rawValue)
      let list =
        names.count > 1
        ? names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1]
        : names.joined()
      return "tensor '\(tensor)' has dtype \(dtype.rawValue), expected \(list)"
    case .shapeMismatch(let tensor, let expected, let found):
      return "tensor '\(tensor)' has shape \(found), the layout expects \(expected)"
    case .unexpectedTensors(let tensors):
      let quoted = tensors.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
      let more = tensors.count > 5 ? " and \(tensors.count - 5) more" : ""
      return "tensors not in the layout: \(quoted)\(more)"
    case .unreadableFile(let reason):
      return "cannot read the file: \(reason)"
    case .inFile(let path, let error):
      return "\(path): \(error.description)"
    }
  }
}
