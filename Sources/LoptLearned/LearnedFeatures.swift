import CLoptKernels
import Foundation
import LoptCore

// Per-parameter building blocks shared by MLPLOpt and AdafacMLP (docs/velo.md §4, §9–§11,
// §18): the tanh training-step embedding, the per-element MLP and the C
// kernel that runs the "normalise the features over the tensor, run a small MLP per element"
// step.

/// The 11 training-step features `tanh(t/τ − 1)`, τ = 1, 3, 10, …, 100000 (`tanh_embedding`).
enum TrainingStepEmbedding {
  /// The time scales τ.
  static let timescales: [Float] = [
    1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000,
  ]

  /// The number of features.
  static var count: Int { timescales.count }

  /// Writes the features for `iteration` (the step counter before the update).
  static func write(iteration: Int, into destination: UnsafeMutablePointer<Float>) {
    let t = Float(iteration)
    for k in 0..<timescales.count { destination[k] = tanh(t / timescales[k] - 1) }
  }
}

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

/// Every element's intermediates of one per-parameter step, per tensor, as the reference's
/// fixtures record them (tests compare the two).
struct PerParameterTrace {
  /// The training-step features appended to every element's normalised features.
  var stepFeatures: [Float] = []
  /// Per tensor, `[count, features]`: the raw features.
  var features: [[Float]] = []
  /// Per tensor, `[features]`: each channel's normalisation scale.
  var scales: [[Float]] = []
  /// Per tensor, `[count, 3]`: direction, magnitude and the update subtracted.
  var outputs: [[Float]] = []
}

/// The per-parameter MLP step of MLPLOpt and AdafacMLP for one tensor (docs/velo.md §18.1, §18.2).
///
/// The C kernel `lopt_per_parameter_step` (`CLoptPerParameter.h`) runs it:
/// ```
/// x̂_c = x_c · rsqrt(1e-5 + mean over the tensor of x_c²)     (every feature channel c)
/// (d, a) = MLP([x̂, step features])
/// p ← p − d · exp(expMult · a) · stepMult
/// ```
/// Accumulators are decay-major: plane j of a tensor's accumulator holds decay j of every
/// element.
struct PerParameterKernel: Sendable {
  /// The MLP, read in place from θ.
  let network: PerParameterMLP
  /// The scale inside the exponential of the magnitude output.
  let expMult: Float
  /// The global step scale.
  let stepMult: Float

  /// The scratch floats a step of `tensor` needs (its pointers are not read).
  func scratchCount(for tensor: LoptPerParameterTensor) -> Int {
    var tensor = tensor
    return withNetwork(theta: nil, stepFeatures: nil) { network in
      lopt_per_parameter_scratch_floats(&tensor, network)
    }
  }

  /// Updates `tensor`'s accumulators and applies the step to its parameters, recording the
  /// intermediates in `trace` when it is given.
  func step(
    _ tensor: LoptPerParameterTensor, theta: UnsafePointer<Float>,
    stepFeatures: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    trace: UnsafePointer<LoptPerParameterTrace>?
  ) {
    var tensor = tensor
    withNetwork(theta: theta, stepFeatures: stepFeatures) { network in
      lopt_per_parameter_step(&tensor, network, scratch, trace)
    }
  }

  private func withNetwork<R>(
    theta: UnsafePointer<Float>?, stepFeatures: UnsafePointer<Float>?,
    _ body: (UnsafePointer<LoptPerParameterNetwork>) -> R
  ) -> R {
    network.widths.withUnsafeBufferPointer { widths in
      network.weightOffsets.withUnsafeBufferPointer { weights in
        network.biasOffsets.withUnsafeBufferPointer { biases in
          var description = LoptPerParameterNetwork(
            theta: theta, widths: widths.baseAddress, weightOffsets: weights.baseAddress,
            biasOffsets: biases.baseAddress, layers: widths.count - 1,
            stepFeatures: stepFeatures, stepFeatureCount: TrainingStepEmbedding.count,
            expMult: expMult, stepMult: stepMult)
          return body(&description)
        }
      }
    }
  }

  /// Runs `body` with a C trace whose buffers are `trace`'s arrays for tensor `index` (`count`
  /// elements, `featureCount` features), or with `nil` when `trace` is `nil`.
  static func withTrace(
    _ trace: inout PerParameterTrace?, tensor index: Int, count: Int, featureCount: Int,
    _ body: (UnsafePointer<LoptPerParameterTrace>?) -> Void
  ) {
    guard var recorded = trace else { return body(nil) }
    var features = [Float](repeating: 0, count: count * featureCount)
    var scales = [Float](repeating: 0, count: featureCount)
    var outputs = [Float](repeating: 0, count: count * 3)
    features.withUnsafeMutableBufferPointer { f in
      scales.withUnsafeMutableBufferPointer { s in
        outputs.withUnsafeMutableBufferPointer { o in
          var c = LoptPerParameterTrace(
            features: f.baseAddress, scales: s.baseAddress, outputs: o.baseAddress)
          body(&c)
        }
      }
    }
    recorded.features.append(features)
    recorded.scales.append(scales)
    recorded.outputs.append(outputs)
    trace = recorded
  }
}

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
