import LoptCore

/// Why a learned-optimizer checkpoint could not be read, or meta-parameters do not fit an
/// architecture.
///
/// Every message names the key path (`params/rnn_params/rnn/linear/w`) or tensor name concerned.
/// Errors raised while reading a file are wrapped in ``inFile(path:_:)``.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The bytes are not valid MessagePack, or not the subset flax writes, at `keyPath`.
  case malformed(keyPath: String, reason: String)
  /// An array at `keyPath` has a dtype this reader does not convert to `Float`.
  case unsupportedDType(keyPath: String, dtype: String)
  /// The tree has no leaf where the architecture expects one.
  case missingTensor(String)
  /// The tree has leaves the architecture does not (listed in order).
  case unexpectedTensors([String])
  /// A leaf's shape differs from the architecture's.
  case shapeMismatch(tensor: String, expected: [Int], found: [Int])
  /// The checkpoint is for another architecture, or its configuration is invalid.
  case architectureMismatch(reason: String)
  /// The file is neither Lopt safetensors nor flax msgpack, or its metadata is unusable.
  case unrecognizedFormat(reason: String)
  /// The kind cannot be written in the format (flax msgpack holds only the reference's kinds).
  case unrepresentable(kind: String, format: String)
  /// Any other case, raised while reading the file at `path`.
  indirect case inFile(path: String, CheckpointError)

  /// The error without its file wrapper.
  public var underlying: CheckpointError {
    if case .inFile(_, let error) = self { return error.underlying }
    return self
  }

  /// A one-line message naming the file (when known) and the key concerned.
  public var description: String {
    switch self {
    case .malformed(let keyPath, let reason):
      return "malformed checkpoint at '\(keyPath.isEmpty ? "<root>" : keyPath)': \(reason)"
    case .unsupportedDType(let keyPath, let dtype):
      return "array '\(keyPath)' has dtype '\(dtype)', expected a floating-point dtype"
    case .missingTensor(let name):
      return "the checkpoint has no tensor '\(name)'"
    case .unexpectedTensors(let names):
      let quoted = names.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
      let more = names.count > 5 ? " and \(names.count - 5) more" : ""
      return "tensors not in the architecture: \(quoted)\(more)"
    case .shapeMismatch(let tensor, let expected, let found):
      return "tensor '\(tensor)' has shape \(found), the architecture expects \(expected)"
    case .architectureMismatch(let reason):
      return "architecture mismatch: \(reason)"
    case .unrecognizedFormat(let reason):
      return "unrecognized checkpoint: \(reason)"
    case .unrepresentable(let kind, let format):
      return "a \(kind) checkpoint cannot be written as \(format): the reference code has no "
        + "such optimizer, so its tree would not name the kind; use safetensors"
    case .inFile(let path, let error):
      return "\(path): \(error.description)"
    }
  }

  /// Returns the error attributed to the file at `path`, unless it already names a file.
  func located(in path: String) -> CheckpointError {
    if case .inFile = self { return self }
    return .inFile(path: path, self)
  }

  /// Throws the first difference between `found` (tensor names and shapes) and `layout`:
  /// a missing tensor, a shape mismatch, then tensors the layout does not have.
  static func checkNames(_ found: [String: [Int]], against layout: ParameterLayout) throws {
    for entry in layout.entries {
      guard let shape = found[entry.name] else { throw missingTensor(entry.name) }
      guard shape == entry.shape else {
        throw shapeMismatch(tensor: entry.name, expected: entry.shape, found: shape)
      }
    }
    let known = Set(layout.names)
    let extra = found.keys.filter { !known.contains($0) }.sorted()
    guard extra.isEmpty else { throw unexpectedTensors(extra) }
  }
}
