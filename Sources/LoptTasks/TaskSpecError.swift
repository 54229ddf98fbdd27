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
  public var description: String {
    switch self {
    case .malformed(let reason): "task spec: \(reason)"
    case .unknownField(let field): "task spec: unknown field '\(field)'"
    case .unknownValue(let field, let value, let allowed):
      "task spec: \(field) '\(value)' is not one of \(allowed.joined(separator: ", "))"
    case .missingField(let field): "task spec: \(field) is required"
    case .unusedField(let field, let family):
      "task spec: \(field) is not used by the \(family.rawValue) family"
    case .outOfRange(let field, let value, let range):
      "task spec: \(field) = \(value) is outside \(range)"
    case .dataUnavailable(let field, let reason): "task spec: \(field): \(reason)"
    case .invalidModel(let reason): "task spec: \(reason)"
    }
  }

  /// Translates a decoder error into one that names the field.
  init(_ error: DecodingError) {
    func path(_ context: DecodingError.Context) -> String {
      context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
        .joined().trimmingPrefix(".").description
    }
    switch error {
    case .keyNotFound(let key, let context):
      let parent = path(context)
      self = .missingField(parent.isEmpty ? key.stringValue : "\(parent).\(key.stringValue)")
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      self = .malformed("\(path(context)) has the wrong type: \(context.debugDescription)")
    case .dataCorrupted(let context):
      self = .malformed("\(path(context)): \(context.debugDescription)")
    @unknown default:
      self = .malformed("\(error)")
    }
  }
}
