import LoptCore

// Meta-parameter trees: reference names, leaf order, initialisation and validation.

/// Reference tree names for meta-parameters: key paths joined with `.`, in JAX leaf order.
enum MetaParameterTree {
  /// A layout of the given leaves sorted as JAX flattens nested dictionaries (by key, level by
  /// level), each named by its key path joined with `.` (haiku module names contain `/`).
  static func layout(_ leaves: [(keyPath: [String], shape: [Int])]) -> ParameterLayout {
    let sorted = leaves.sorted {
      $0.keyPath.lexicographicallyPrecedes($1.keyPath) {
        Array($0.utf8).lexicographicallyPrecedes($1.utf8)
      }
    }
    return ParameterLayout(
      sorted.map { (name: $0.keyPath.joined(separator: "."), shape: $0.shape) })
  }

  /// The leaves of a dense network of the given widths under `path`: `b<i>` (`[out]`) and
  /// `w<i>` (`[in, out]`) for each layer `i`.
  static func denseLeaves(under path: [String], widths: [Int]) -> [(
    keyPath: [String], shape: [Int]
  )] {
    var leaves: [(keyPath: [String], shape: [Int])] = []
    for layer in 0..<max(0, widths.count - 1) {
      let (fanIn, fanOut) = (widths[layer], widths[layer + 1])
      leaves.append((keyPath: path + ["b\(layer)"], shape: [fanOut]))
      leaves.append((keyPath: path + ["w\(layer)"], shape: [fanIn, fanOut]))
    }
    return leaves
  }

  /// Meta-parameters for `layout`: tensors for which `isWeight` holds are drawn from haiku's
  /// `TruncatedNormal(1/√fan_in)` (fan-in = the second-to-last axis), the rest are zero.
  static func initialise(
    _ layout: ParameterLayout, key: RandomKey, isWeight: (String) -> Bool
  ) -> ParameterSet {
    var theta = ParameterSet(layout: layout)
    for (index, entry) in layout.entries.enumerated() where isWeight(entry.name) {
      let fanIn = entry.shape.count >= 2 ? entry.shape[entry.shape.count - 2] : 1
      theta.withUnsafeMutableBufferPointer(ofTensor: index) {
        key.folding(in: UInt64(index)).fillTruncatedNormal(
          $0, standardDeviation: 1 / Float(fanIn).squareRoot())
      }
    }
    return theta
  }

  /// Checks that `theta` has exactly `layout`.
  ///
  /// - Throws: ``CheckpointError`` naming the first missing, extra or mis-shaped tensor.
  static func validate(_ theta: ParameterSet, against layout: ParameterLayout) throws {
    guard theta.layout != layout else { return }
    try CheckpointError.checkNames(
      Dictionary(uniqueKeysWithValues: theta.layout.entries.map { ($0.name, $0.shape) }),
      against: layout)
    throw CheckpointError.architectureMismatch(
      reason: "the meta-parameters are not in the reference leaf order")
  }
}
