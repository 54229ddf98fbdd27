import Foundation

/// Deterministic mutations of valid inputs, for property-style fuzz tests of file readers.
///
/// ``mutateValues(_:)`` edits a JSON-model document (what `JSONSerialization` and YAML
/// readers produce): numbers, strings and lists replaced by edge values, keys dropped or
/// misspelt, so the syntax stays valid and the reader's checks are what is exercised.
/// Each ``mutate(_:)`` applies one to four edits chosen from: a flipped bit, a byte set to an
/// edge value, four or eight bytes overwritten with an edge integer or float (either byte
/// order), a truncation, a deleted range, a duplicated range, and a token inserted or
/// substituted (tokens suit text formats: `"-1"`, `"1e300"`, `"*a"`, …). The same seed gives the
/// same sequence on every machine, so a failing input is reproduced by its seed and index.
public struct Mutator {
  private var state: UInt64
  private let tokens: [[UInt8]]

  /// Creates a mutator whose edits follow from `seed`; `tokens` are spliced into inputs.
  public init(seed: UInt64, tokens: [String] = []) {
    state = seed
    self.tokens = tokens.map { Array($0.utf8) }
  }

  private static let edgeBytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x2D, 0x30, 0x39]
  private static let edgeWords: [UInt64] = [
    0, 1, UInt64.max, UInt64(Int64.max), 1 << 63, UInt64(Int32.max), 1 << 31, 0xFFFF_FFFF,
    Double.infinity.bitPattern, Double.nan.bitPattern, (-1e300 as Double).bitPattern,
    UInt64(Float.infinity.bitPattern), UInt64(Float.nan.bitPattern),
    UInt64((1e30 as Float).bitPattern),
  ]

  /// A uniformly drawn integer in `0..<bound` (SplitMix64).
  private mutating func next(_ bound: Int) -> Int {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return Int((z ^ (z >> 31)) % UInt64(max(bound, 1)))
  }

  /// A random range of `bytes` (possibly empty).
  private mutating func range(in bytes: [UInt8]) -> Range<Int> {
    let start = next(bytes.count + 1)
    return start..<(start + next(min(bytes.count - start, 64) + 1))
  }

  /// The values ``mutateValues(_:)`` substitutes.
  nonisolated(unsafe) private static let edgeValues: [Any] = [  // immutable after initialisation
    -1, 0, 1, 4096, 16_384, 1_000_000_000, Int.max, Int.min, 1e300, -1e300, 0.5, "", "x",
    NSNull(), [Any](), [String: Any](), [16_384, 16_384], true,
  ]

  /// `document` with one to three of its values, keys or list lengths edited.
  public mutating func mutateValues(_ document: Any) -> Any {
    var result = document
    for _ in 0...next(3) { result = edit(result, depth: 0) }
    return result
  }

  /// Edits one place in `value`: here with probability ½ at each level, else in a child.
  private mutating func edit(_ value: Any, depth: Int) -> Any {
    if var map = value as? [String: Any], !map.isEmpty, depth < 16, next(4) != 0 {
      let key = map.keys.sorted()[next(map.count)]
      switch next(8) {
      case 0: map[key] = nil
      case 1: map[key + "s"] = map.removeValue(forKey: key)
      default: map[key] = edit(map[key]!, depth: depth + 1)
      }
      return map
    }
    if var list = value as? [Any], !list.isEmpty, depth < 16, next(4) != 0 {
      switch next(6) {
      case 0: list.removeLast()
      case 1: list += Array(repeating: list[0], count: 1 + next(64))
      default:
        let index = next(list.count)
        list[index] = edit(list[index], depth: depth + 1)
      }
      return list
    }
    return Self.edgeValues[next(Self.edgeValues.count)]
  }

  /// `input` with one to four random edits.
  public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
    var bytes = input
    for _ in 0...next(4) {
      let kinds = tokens.isEmpty ? 6 : 8
      switch next(kinds) {
      case 0 where !bytes.isEmpty:
        bytes[next(bytes.count)] ^= 1 << UInt8(next(8))
      case 1 where !bytes.isEmpty:
        bytes[next(bytes.count)] = Self.edgeBytes[next(Self.edgeBytes.count)]
      case 2 where bytes.count >= 8:
        let width = next(2) == 0 ? 4 : 8
        let word = Self.edgeWords[next(Self.edgeWords.count)]
        let start = next(bytes.count - width + 1)
        let bigEndian = next(2) == 0
        for k in 0..<width {
          let shift = UInt64(8 * (bigEndian ? width - 1 - k : k))
          bytes[start + k] = UInt8(truncatingIfNeeded: word >> shift)
        }
      case 3:
        bytes.removeLast(bytes.count - next(bytes.count + 1))
      case 4:
        bytes.removeSubrange(range(in: bytes))
      case 5:
        let copied = range(in: bytes)
        bytes.insert(contentsOf: bytes[copied], at: next(bytes.count + 1))
      case 6:
        bytes.insert(contentsOf: tokens[next(tokens.count)], at: next(bytes.count + 1))
      case 7:
        bytes.replaceSubrange(range(in: bytes), with: tokens[next(tokens.count)])
      default:
        break
      }
    }
    return bytes
  }
}
