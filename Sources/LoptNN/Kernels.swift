/// `destination[i] += source[i]` for `count` elements.
@inlinable
func accumulate(
  _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int
) {
  for i in 0..<count { destination[i] += source[i] }
}
