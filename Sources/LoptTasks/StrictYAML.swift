import Foundation
import Yams

/// YAML configuration files decoded strictly: every key must be known, and values the file
/// leaves out come from a default value.
///
/// The YAML is turned into the JSON object model (plain scalars become numbers, booleans or
/// null when they read as such; quoted scalars stay strings), merged over the defaults (maps
/// merge key by key, anything else replaces), and decoded with ``StrictJSON``.
public enum StrictYAML {
  /// Decodes `T` from `yaml`, taking absent fields from `defaults`.
  ///
  /// - Throws: ``TaskSpecError`` naming the field at fault (malformed YAML, a wrong type, an
  ///   unknown key).
  public static func decode<T: Codable>(_ type: T.Type, from yaml: String, defaults: T) throws -> T
  {
    let base = try JSONSerialization.jsonObject(with: JSONEncoder().encode(defaults))
    let merged = merge(base, over: try object(from: yaml) ?? [String: Any]())
    return try StrictJSON.decode(type, from: try JSONSerialization.data(withJSONObject: merged))
  }

  /// Decodes `T` from `yaml` with every required field present in the file.
  ///
  /// - Throws: ``TaskSpecError`` naming the field at fault.
  public static func decode<T: Codable>(_ type: T.Type, from yaml: String) throws -> T {
    let value = try object(from: yaml) ?? NSNull()
    return try StrictJSON.decode(
      type, from: try JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed))
  }

  /// The document as JSON-model values (`nil` for an empty document).
  ///
  /// - Throws: ``TaskSpecError/malformed(_:)`` for YAML that does not parse or has non-string
  ///   keys.
  public static func object(from yaml: String) throws -> Any? {
    let node: Node?
    do {
      node = try Yams.compose(yaml: yaml)
    } catch {
      throw TaskSpecError.malformed("not valid YAML: \(error)")
    }
    return try node.map(value)
  }

  private static func value(_ node: Node) throws -> Any {
    switch node {
    case .scalar(let scalar):
      guard scalar.style == .plain else { return scalar.string }
      let text = scalar.string
      switch text {
      case "", "~", "null", "Null", "NULL": return NSNull()
      case "true", "True", "TRUE": return true
      case "false", "False", "FALSE": return false
      default:
        if let integer = Int(text) { return integer }
        if let number = Double(text), number.isFinite { return number }
        return text
      }
    case .sequence(let sequence):
      return try sequence.map(value)
    case .mapping(let mapping):
      var dictionary: [String: Any] = [:]
      for (key, item) in mapping {
        guard case .scalar(let name) = key else {
          throw TaskSpecError.malformed("a YAML map key must be a plain string")
        }
        dictionary[name.string] = try value(item)
      }
      return dictionary
    case .alias:
      throw TaskSpecError.malformed("YAML aliases are not supported in configuration files")
    }
  }

  private static func merge(_ base: Any, over override: Any) -> Any {
    guard let base = base as? [String: Any], let override = override as? [String: Any] else {
      return override
    }
    var merged = base
    for (key, value) in override {
      merged[key] = merged[key].map { merge($0, over: value) } ?? value
    }
    return merged
  }
}
