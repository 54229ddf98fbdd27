/// Why a model could not be built: the problems its layers found, such as mismatched shapes.
public struct GraphError: Error, CustomStringConvertible, Equatable, Sendable {
  /// Each problem, naming the layer and the shapes involved.
  public let problems: [String]

  /// The problems, one per line.
  public var description: String {
    "the model cannot be built:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
  }
}
