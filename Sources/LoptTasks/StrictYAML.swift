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
    let document = try object(from: yaml) ?? [String: Any]()
    guard document is [String: Any] else {
      let found =
        document is [Any] ? "a list" : document is NSNull ? "null" : "the value '\(document)'"
      throw TaskSpecError.malformed(
        "the document must be a map of settings (key: value lines), found \(found)")
    }
    let merged = merge(base, over: document)
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
  /// Aliases are refused before they are expanded: YAML without aliases has fewer values than
  /// twice its characters, so a document that expands beyond that (a "billion laughs" bomb
  /// of nested aliases) stops at that count instead of filling memory.
  ///
  /// - Throws: ``TaskSpecError/malformed(_:)`` for YAML that does not parse, has non-string
  ///   keys or aliases.
  public static func object(from yaml: String) throws -> Any? {
    let node: Node?
    do {
      node = try Yams.compose(yaml: yaml)
    } catch {
      throw TaskSpecError.malformed("not valid YAML: \(error)")
    }
    var budget = 2 * yaml.utf8.count + 16
    return try node.map { try value($0, budget: &budget) }
  }

  private static func value(_ node: Node, budget: inout Int) throws -> Any {
    budget -= 1
    guard budget >= 0 else { throw aliasError }
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
      return try sequence.map { try value($0, budget: &budget) }
    case .mapping(let mapping):
      var dictionary: [String: Any] = [:]
      for (key, item) in mapping {
        guard case .scalar(let name) = key else {
          throw TaskSpecError.malformed("a YAML map key must be a plain string")
        }
        dictionary[name.string] = try value(item, budget: &budget)
      }
      return dictionary
    case .alias:
      throw aliasError
    }
  }

  private static let aliasError = TaskSpecError.malformed(
    "YAML anchors and aliases (&name, *name) are not supported in configuration files; write "
      + "each value out")

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
