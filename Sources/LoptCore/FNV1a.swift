/// The 64-bit FNV-1a hash of `bytes` as 16 hex digits: a short, stable fingerprint for cache
/// keys (of run keys, of checkpoint files), not a cryptographic hash.
public func fnv1aDigest(_ bytes: some Sequence<UInt8>) -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in bytes {
    hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
  }
  let hex = String(hash, radix: 16)
  return String(repeating: "0", count: 16 - hex.count) + hex
}
