import Foundation

/// A key for counter-based random numbers: Philox-4x32-10 (Salmon et al., SC'11).
///
/// A key never changes; numbers are a pure function of the key and an element index, so the
/// same key gives the same numbers on any thread, in any order, on any machine. New keys come
/// from ``split(into:)`` and ``folding(in:)`` (the JAX vocabulary), never from a shared
/// generator. Element `i` of any stream can be regenerated alone, which is how evolution
/// strategies rebuild a perturbation from its seed.
public struct RandomKey: Hashable, Codable, Sendable {
  /// The two 32-bit words of the Philox key.
  public let words: (UInt32, UInt32)

  /// Creates the key for a 64-bit seed.
  public init(seed: UInt64) {
    words = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
  }

  /// Creates a key from its two raw words.
  public init(words: (UInt32, UInt32)) {
    self.words = words
  }

  /// The key as one 64-bit number (low word first), for logging or checkpoints.
  public var rawValue: UInt64 { UInt64(words.0) | UInt64(words.1) << 32 }

  /// Returns `count` independent keys derived from this one.
  public func split(into count: Int) -> [RandomKey] {
    (0..<count).map { derived(counter: UInt64($0), domain: Domain.split) }
  }

  /// Returns two independent keys derived from this one.
  public func split() -> (RandomKey, RandomKey) {
    (derived(counter: 0, domain: Domain.split), derived(counter: 1, domain: Domain.split))
  }

  /// Returns a new key that mixes `data` into this one (for example a step or worker index).
  public func folding(in data: UInt64) -> RandomKey {
    derived(counter: data, domain: Domain.fold)
  }

  /// The four 32-bit words of block `block` of this key's stream.
  @inlinable
  public func block(_ block: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
    Philox4x32.block(
      counter: (UInt32(truncatingIfNeeded: block), UInt32(truncatingIfNeeded: block >> 32), 0, 0),
      key: words)
  }

  /// The 32 random bits at element `index` of this key's stream.
  @inlinable
  public func bits(at index: Int) -> UInt32 {
    let b = block(UInt64(index) >> 2)
    switch index & 3 {
    case 0: return b.0
    case 1: return b.1
    case 2: return b.2
    default: return b.3
    }
  }

  private enum Domain {
    static let split: UInt32 = 0x5EED_0001
    static let fold: UInt32 = 0x5EED_0002
  }

  private func derived(counter: UInt64, domain: UInt32) -> RandomKey {
    let out = Philox4x32.block(
      counter: (
        UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), domain, 0
      ),
      key: words)
    return RandomKey(words: (out.0, out.1))
  }

  // Tuples are neither Hashable nor Codable; the key is compared and stored as its raw value.

  /// Two keys are equal when their words are.
  public static func == (lhs: RandomKey, rhs: RandomKey) -> Bool { lhs.rawValue == rhs.rawValue }

  /// Hashes the key's raw value.
  public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

  /// Decodes a key stored as its 64-bit raw value.
  public init(from decoder: any Decoder) throws {
    self.init(seed: try decoder.singleValueContainer().decode(UInt64.self))
  }

  /// Encodes the key as its 64-bit raw value.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}

/// The Philox-4x32 bijection with 10 rounds, exactly as in Random123.
public enum Philox4x32 {
  /// Maps a 128-bit counter to 128 random bits under a 64-bit key.
  @inlinable
  public static func block(
    counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)
  ) -> (UInt32, UInt32, UInt32, UInt32) {
    var (c0, c1, c2, c3) = counter
    var (k0, k1) = key
    for round in 0..<10 {
      if round > 0 {
        k0 &+= 0x9E37_79B9
        k1 &+= 0xBB67_AE85
      }
      let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
      let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
      let hi0 = UInt32(truncatingIfNeeded: p0 >> 32)
      let lo0 = UInt32(truncatingIfNeeded: p0)
      let hi1 = UInt32(truncatingIfNeeded: p1 >> 32)
      let lo1 = UInt32(truncatingIfNeeded: p1)
      (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    }
    return (c0, c1, c2, c3)
  }
}
