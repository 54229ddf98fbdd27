/// Why a ``TaskSpec`` cannot be read or built, naming the field at fault.
public enum TaskSpecError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The text is not JSON, or a value has the wrong type.
  case malformed(String)
  /// A key the spec does not know (for example a misspelt field).
  case unknownField(String)
  /// A value outside the set of names a field accepts.
  case unknownValue(field: String, value: String, allowed: [String])
  /// A required field is absent.
  case missingField(String)
  /// A field that the family does not use is set.
  case unusedField(field: String, family: TaskFamily)
  /// A number outside its allowed range.
  case outOfRange(field: String, value: String, range: String)
  /// The data set is not on this machine, or cannot be read.
  case dataUnavailable(field: String, reason: String)
  /// The sizes do not make a valid model.
  case invalidModel(String)

  /// The problem and the field, in one sentence.
  public var description: String { "task spec: " + reason }

  /// The problem and the field without the `task spec:` prefix, for messages about other files
  /// read the same strict way (configurations, suites).
  public var reason: String {
    switch self {
    case .malformed(let reason): reason
    case .unknownField(let field): "unknown field '\(field)'"
    case .unknownValue(let field, let value, let allowed):
      "\(field) '\(value)' is not one of \(allowed.joined(separator: ", "))"
    case .missingField(let field): "\(field) is required"
    case .unusedField(let field, let family):
      "\(field) is not used by the \(family.rawValue) family"
    case .outOfRange(let field, let value, let range): "\(field) = \(value) is outside \(range)"
    case .dataUnavailable(let field, let reason): "\(field): \(reason)"
    case .invalidModel(let reason): reason
    }
  }

  /// Translates a decoder error into one that names the field.
  init(_ error: DecodingError) {
    func path(_ context: DecodingError.Context) -> String {
      let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
        .joined().trimmingPrefix(".").description
      return path.isEmpty ? "the document" : path
    }
    switch error {
    case .keyNotFound(let key, let context):
      let parent = context.codingPath.isEmpty ? "" : path(context) + "."
      self = .missingField(parent + key.stringValue)
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      self = .malformed("\(path(context)) has the wrong type: \(context.debugDescription)")
    case .dataCorrupted(let context):
      self = .malformed("\(path(context)): \(context.debugDescription)")
    @unknown default:
      self = .malformed("\(error)")
    }
  }
}
