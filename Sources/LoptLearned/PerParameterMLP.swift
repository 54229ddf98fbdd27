import LoptCore

// The per-element MLP of the per-parameter learned optimizers, read in place from θ.

/// A fully connected ReLU network applied to the features of a block of elements, with its
/// weights read in place from θ (`w` is `[in, out]`, `y = x·w + b`; no activation on the
/// output).
///
/// Activations are stored feature-major (`[width][block]`), so every multiply-add runs along
/// the block and vectorises; each element's sums are formed in the same order as a
/// one-element-at-a-time product (inputs in order, then the bias), so results do not depend on
/// the block size.
struct PerParameterMLP: Sendable {
  /// Widths from the input to the output (MLPLOpt's are `[19, 32, 32, 2]`).
  let widths: [Int]
  /// Offsets into θ of each layer's weight matrix.
  let weightOffsets: [Int]
  /// Offsets into θ of each layer's bias.
  let biasOffsets: [Int]

  /// Elements per block.
  static let blockSize = 64

  /// The largest width: the size of each of the two activation buffers, in block rows.
  var maximumWidth: Int { widths.max() ?? 0 }

  /// Runs the network on the `count` (≤ ``blockSize``) elements of `input` (`[widths[0]][blockSize]`)
  /// and returns the output buffer (`[widths.last][blockSize]`), one of the two halves of
  /// `scratch` (`2 × maximumWidth × blockSize` floats).
  @inline(__always)
  func apply(
    theta: UnsafePointer<Float>, input: UnsafePointer<Float>, count: Int,
    scratch: UnsafeMutablePointer<Float>
  ) -> UnsafePointer<Float> {
    let block = Self.blockSize
    var source = input
    var destination = scratch
    let layers = widths.count - 1
    for layer in 0..<layers {
      let (fanIn, fanOut) = (widths[layer], widths[layer + 1])
      let w = theta + weightOffsets[layer]
      let b = theta + biasOffsets[layer]
      for j in 0..<fanOut {
        let out = destination + j * block
        for e in 0..<count { out[e] = 0 }
        for i in 0..<fanIn {
          let weight = w[i * fanOut + j]
          let x = source + i * block
          for e in 0..<count { out[e] += x[e] * weight }
        }
        let bias = b[j]
        if layer < layers - 1 {
          for e in 0..<count { out[e] = max(out[e] + bias, 0) }
        } else {
          for e in 0..<count { out[e] += bias }
        }
      }
      source = UnsafePointer(destination)
      destination =
        destination == scratch ? scratch + maximumWidth * block : scratch
    }
    return source
  }
}

extension PerParameterMLP {
  /// The network whose layer `i` is stored in `layout` as `<prefix>w<i>` (`[in, out]`) and
  /// `<prefix>b<i>`, the naming of ``MetaParameterTree/denseLeaves(under:widths:)``.
  init(widths: [Int], layout: ParameterLayout, prefix: String) {
    let layers = widths.count - 1
    self.init(
      widths: widths,
      weightOffsets: (0..<layers).map { layout.entry(named: "\(prefix)w\($0)")!.offset },
      biasOffsets: (0..<layers).map { layout.entry(named: "\(prefix)b\($0)")!.offset })
  }
}
