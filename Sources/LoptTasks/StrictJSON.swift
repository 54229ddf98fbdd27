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
    if let duplicate = firstDuplicateKey(in: data) {
      throw TaskSpecError.malformed("the key '\(duplicate)' appears twice in one object")
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

  /// The first key that appears twice in one object of `data`, a valid JSON text (keys are
  /// compared as written, escapes included); `JSONSerialization` would keep only the last.
  static func firstDuplicateKey(in data: Data) -> String? {
    let bytes = [UInt8](data)
    var objects: [Set<[UInt8]>?] = []  // one per open container; nil for an array
    var expectsKey = false
    var index = 0
    while index < bytes.count {
      switch bytes[index] {
      case UInt8(ascii: "\""):
        let start = index + 1
        index = start
        while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
          index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        if expectsKey, objects.last != nil {
          let key = Array(bytes[start..<min(index, bytes.count)])
          guard objects[objects.count - 1]!.insert(key).inserted else {
            return String(decoding: key, as: UTF8.self)
          }
          expectsKey = false
        }
      case UInt8(ascii: "{"):
        objects.append([])
        expectsKey = true
      case UInt8(ascii: "["):
        objects.append(nil)
      case UInt8(ascii: "}"), UInt8(ascii: "]"):
        _ = objects.popLast()
        expectsKey = false
      case UInt8(ascii: ","):
        expectsKey = objects.last.map { $0 != nil } ?? false
      default:
        break
      }
      index += 1
    }
    return nil
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
