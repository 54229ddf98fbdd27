import Foundation

/// JSON decoding that rejects keys the type does not know (user files: configs and specs).
public enum StrictJSON {
  /// Decodes `T` from `data`, then re-encodes it and reports the first key of the input that
  /// the re-encoding lacks (`null` values count as absent).
  ///
  /// - Throws: ``TaskSpecError`` (malformed JSON, a wrong type, a missing or unknown field).
  public static func decode<T: Codable>(_ type: T.Type, from data: Data) throws -> T {
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw TaskSpecError.malformed("not valid JSON: \(error.localizedDescription)")
    }
    let value: T
    do {
      value = try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
      throw TaskSpecError(error)
    }
    let known = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
    if let unknown = firstUnknownKey(in: object, known: known, path: "") {
      throw TaskSpecError.unknownField(unknown)
    }
    return value
  }

  /// The first key path in `object` that `known` does not have.
  private static func firstUnknownKey(in object: Any, known: Any, path: String) -> String? {
    if let dictionary = object as? [String: Any] {
      let knownDictionary = known as? [String: Any] ?? [:]
      for (key, value) in dictionary.sorted(by: { $0.key < $1.key }) where !(value is NSNull) {
        let child = path.isEmpty ? key : "\(path).\(key)"
        guard let knownValue = knownDictionary[key] else { return child }
        if let found = firstUnknownKey(in: value, known: knownValue, path: child) { return found }
      }
    } else if let array = object as? [Any], let knownArray = known as? [Any] {
      for (index, element) in array.enumerated() where index < knownArray.count {
        if let found = firstUnknownKey(
          in: element, known: knownArray[index], path: "\(path)[\(index)]")
        {
          return found
        }
      }
    }
    return nil
  }
}
