import Foundation

/// The contents of a safetensors file: named tensors in order, plus string metadata.
///
/// The format is an 8-byte little-endian header length `N`, then `N` bytes of JSON header
/// `{"__metadata__": {"key": "value", …}, "name": {"dtype": "F32", "shape": […],
/// "data_offsets": [begin, end]}, …}`, then the tensors' little-endian bytes; offsets count
/// from the start of that data section.
///
/// **Order.** Tensors keep the order they were added in, and ``serialized()`` writes them in
/// that order, so a ``ParameterSet``'s layout order survives a round trip. (Python's
/// `safetensors` writes by descending dtype alignment, then name; it reads any order.) A file
/// that is read lists its tensors in data order, which is also the header order of every file
/// Lopt or Python writes. Metadata is written sorted by key; the header is padded with spaces
/// to a multiple of 8 bytes, as the Python library does, so the data section is 8-aligned.
///
/// **Validation.** Reading enforces the Python library's rules: known dtypes, shapes that
/// match their byte spans, and tensors that tile the data section with no overlap, hole or
/// trailing bytes. Unknown fields in a tensor entry are ignored, as in Python. Every malformed
/// input throws a ``SafetensorsError``; none traps.
public struct SafetensorsFile: Sendable, Equatable {
  /// Free-form string metadata (the header's `__metadata__` object).
  public var metadata: [String: String]
  /// The tensor names in order.
  public private(set) var names: [String] = []
  private var tensors: [String: StoredTensor] = [:]

  /// Creates a file with no tensors.
  public init(metadata: [String: String] = [:]) {
    self.metadata = metadata
  }

  /// Reads and validates the file at `url`.
  ///
  /// - Throws: ``SafetensorsError/inFile(path:_:)`` wrapping the problem.
  public init(contentsOf url: URL) throws {
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw SafetensorsError.inFile(
        path: url.path, .unreadableFile(reason: error.localizedDescription))
    }
    do {
      self = try data.withUnsafeBytes { try Self(parsing: $0) }
    } catch let error as SafetensorsError {
      throw error.located(in: url.path)
    }
  }

  /// The number of tensors.
  public var count: Int { names.count }

  /// The tensor called `name`, or `nil`; setting a new name appends it, setting `nil` removes.
  ///
  /// - Precondition: `name` is not `"__metadata__"`, which the format reserves.
  public subscript(name: String) -> StoredTensor? {
    get { tensors[name] }
    set {
      precondition(name != "__metadata__", "'__metadata__' is reserved and cannot name a tensor")
      if let newValue {
        if tensors.updateValue(newValue, forKey: name) == nil { names.append(name) }
      } else if tensors.removeValue(forKey: name) != nil {
        names.removeAll { $0 == name }
      }
    }
  }

  /// The complete file: header length, header and data, with tensors in ``names`` order.
  public func serialized() -> [UInt8] {
    var members: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { $0.key < $1.key }.map {
        SafetensorsJSON.quoted($0.key) + ":" + SafetensorsJSON.quoted($0.value)
      }
      members.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
    }
    var offset = 0
    for name in names {
      let tensor = tensors[name]!
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      let end = offset + tensor.bytes.count
      members.append(
        SafetensorsJSON.quoted(name) + ":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":"
          + "[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
      offset = end
    }
    var header = Array(("{" + members.joined(separator: ",") + "}").utf8)
    header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
    var result: [UInt8] = []
    result.reserveCapacity(8 + header.count + offset)
    for shift in stride(from: 0, to: 64, by: 8) {
      result.append(UInt8(truncatingIfNeeded: UInt64(header.count) >> UInt64(shift)))
    }
    result += header
    for name in names { result += tensors[name]!.bytes }
    return result
  }

  /// Writes ``serialized()`` to `url` atomically (see ``AtomicFile``).
  ///
  /// - Throws: ``AtomicFileError`` if the file cannot be written.
  public func write(to url: URL) throws {
    try AtomicFile.write(serialized(), to: url)
  }
}
