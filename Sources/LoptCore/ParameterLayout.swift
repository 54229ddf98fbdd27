/// The ordered names and shapes of a model's tensors and where each lives in one flat buffer.
///
/// The order is fixed and deterministic: per-tensor learned optimizers (VeLO keeps one LSTM
/// row per tensor) and checkpoints depend on it. Parameters, gradients, optimizer moments and
/// meta-parameters all share layouts.
public struct ParameterLayout: Hashable, Codable, Sendable {
  /// One named tensor of a layout.
  public struct Entry: Hashable, Codable, Sendable {
    /// The tensor's name, unique within its layout (for example `"layer0/w"`).
    public let name: String
    /// The tensor's shape; `[]` is a scalar.
    public let shape: [Int]
    /// The index of the tensor's first element in the flat buffer.
    public let offset: Int
    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The flat index range the tensor occupies.
    public var range: Range<Int> { offset..<(offset + count) }
  }

  /// The tensors in layout order.
  public let entries: [Entry]
  /// The total number of elements of all tensors.
  public let totalCount: Int

  /// Creates a layout that places the named shapes one after another in the order given.
  ///
  /// - Precondition: names are unique and extents non-negative.
  public init(_ tensors: [(name: String, shape: [Int])]) {
    var offset = 0
    var entries: [Entry] = []
    var seen = Set<String>()
    for (name, shape) in tensors {
      precondition(seen.insert(name).inserted, "duplicate tensor name '\(name)' in layout")
      precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape) of '\(name)'")
      entries.append(Entry(name: name, shape: shape, offset: offset))
      offset += shape.reduce(1, *)
    }
    self.entries = entries
    totalCount = offset
  }

  /// The number of tensors.
  public var count: Int { entries.count }

  /// The names in layout order.
  public var names: [String] { entries.map(\.name) }

  /// The position of the tensor called `name`, or `nil`.
  public func index(of name: String) -> Int? {
    entries.firstIndex { $0.name == name }
  }

  /// The entry called `name`, or `nil`.
  public func entry(named name: String) -> Entry? {
    index(of: name).map { entries[$0] }
  }
}
