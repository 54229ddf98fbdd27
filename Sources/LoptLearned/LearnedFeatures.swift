import CLoptShims
import Foundation
import LoptCore

// Per-parameter building blocks shared by MLPLOpt and AdafacMLP (VELO_SPEC.md §1.4, §1.9–§1.11,
// §2): the accumulators, the factored-axis rule, the tanh training-step embedding, and the
// two-pass "normalise the features over the tensor, run a small MLP per element" kernel.

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

/// The two axes a tensor's Adafactor statistics factor over (`factored_dims`, spec §1.4).
///
/// `row` (the reference's `d0`) is the largest axis and `column` (`d1`) the second largest,
/// by a stable ascending sort of the extents: among equal extents the later axis is larger.
struct FactoredAxes: Equatable, Sendable {
  /// The largest axis, `d0`: the row statistics average over it.
  let row: Int
  /// The second-largest axis, `d1`: the column statistics average over it.
  let column: Int

  /// The factored axes of `shape`, or `nil` below rank 2.
  init?(shape: [Int]) {
    guard shape.count >= 2 else { return nil }
    let order = shape.indices.sorted { (shape[$0], $0) < (shape[$1], $1) }
    row = order[order.count - 1]
    column = order[order.count - 2]
  }

  /// `shape` without the row axis: the shape of the row statistics (before the decay axis).
  func rowShape(of shape: [Int]) -> [Int] { removing(row, from: shape) }

  /// `shape` without the column axis: the shape of the column statistics.
  func columnShape(of shape: [Int]) -> [Int] { removing(column, from: shape) }

  private func removing(_ axis: Int, from shape: [Int]) -> [Int] {
    var result = shape
    result.remove(at: axis)
    return result
  }
}

/// Maps the flat index of an element to its flat index in the same shape without one axis.
struct AxisRemoval: Sendable {
  /// The extent of the removed axis.
  let extent: Int
  /// The number of elements after the removed axis (its stride).
  let inner: Int

  /// Removal of `axis` from `shape`.
  init(shape: [Int], axis: Int) {
    extent = shape[axis]
    inner = shape[(axis + 1)...].reduce(1, *)
  }

  /// The reduced flat index of element `index`.
  @inline(__always)
  func reducedIndex(_ index: Int) -> Int {
    (index / (extent * inner)) * inner + index % inner
  }
}

/// How one tensor's factored statistics are laid out (rank ≥ 2 only).
struct FactoredPlan: Sendable {
  /// Element index → row-statistics index (the row axis removed).
  let rows: AxisRemoval
  /// Element index → column-statistics index (the column axis removed).
  let columns: AxisRemoval
  /// Row-statistics index → index of the group whose mean normalises it (the column axis
  /// removed from the row shape: the reference's `reduced_d1`).
  let groups: AxisRemoval
  /// The number of row-statistics vectors (elements of the row shape).
  let rowCount: Int
  /// The number of column-statistics vectors.
  let columnCount: Int

  /// The plan for a tensor of `shape`, or `nil` below rank 2.
  init?(shape: [Int]) {
    guard let axes = FactoredAxes(shape: shape) else { return nil }
    rows = AxisRemoval(shape: shape, axis: axes.row)
    columns = AxisRemoval(shape: shape, axis: axes.column)
    let reducedColumn = axes.column > axes.row ? axes.column - 1 : axes.column
    groups = AxisRemoval(shape: axes.rowShape(of: shape), axis: reducedColumn)
    rowCount = axes.rowShape(of: shape).reduce(1, *)
    columnCount = axes.columnShape(of: shape).reduce(1, *)
  }
}

/// Exponential moving averages with the decay axis last (`common.py`, spec E1–E3).
enum Accumulators {
  /// `m[i, k] ← β_k·m[i, k] + (1 − β_k)·g[i]` for the `decays.count` momenta (not clipped).
  static func updateMomentum(
    _ m: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int,
    decays: [Float]
  ) {
    let k = decays.count
    for (j, decay) in decays.enumerated() {
      let keep = 1 - decay
      for i in 0..<count { m[i * k + j] = decay * m[i * k + j] + keep * g[i] }
    }
  }

  /// `v[i] ← β·v[i] + (1 − β)·g[i]²` with β clipped to [0, 1] (`rolling_rms`).
  static func updateSecondMoment(
    _ v: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int, decay: Float
  ) {
    let beta = min(max(decay, 0), 1)
    let keep = 1 - beta
    for i in 0..<count { v[i] = beta * v[i] + keep * (g[i] * g[i]) }
  }

  /// `v[i, k] ← β_k·v[i, k] + (1 − β_k)·(g[i]² + 1e-30)`, β clipped: the full (rank < 2)
  /// Adafactor accumulator.
  static func updateDiagonal(
    _ v: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int,
    decays: [Float]
  ) {
    let k = decays.count
    for (j, decay) in decays.enumerated() {
      let beta = min(max(decay, 0), 1)
      let keep = 1 - beta
      for i in 0..<count { v[i * k + j] = beta * v[i * k + j] + keep * (g[i] * g[i] + 1e-30) }
    }
  }

  /// Updates the factored row and column accumulators and derives the per-vector factors.
  ///
  /// ```
  /// q = g² + 1e-30
  /// r_k ← β_k r_k + (1−β_k)·mean_row-axis(q)      c_k ← β_k c_k + (1−β_k)·mean_column-axis(q)
  /// ρ_k = rsqrt(max(r_k / (mean over the reduced column axis of r_k + 1e-9), 1e-9))
  /// γ_k = rsqrt(max(c_k, 1e-9))
  /// ```
  /// and `rsqrt(r_k + 1e-8)`, `rsqrt(c_k + 1e-8)` for the features. The factor buffers double as
  /// scratch for the means, so the call allocates nothing.
  static func updateFactored(
    plan: FactoredPlan, gradient g: UnsafePointer<Float>, count: Int, decays: [Float],
    statistics: FactoredBuffers
  ) {
    let k = decays.count
    let rowSums = statistics.rowFactor
    let columnSums = statistics.columnFactor
    rowSums.initialize(repeating: 0, count: plan.rowCount)
    columnSums.initialize(repeating: 0, count: plan.columnCount)
    for i in 0..<count {
      let q = g[i] * g[i] + 1e-30
      rowSums[plan.rows.reducedIndex(i)] += q
      columnSums[plan.columns.reducedIndex(i)] += q
    }
    let rowExtent = Float(plan.rows.extent)
    let columnExtent = Float(plan.columns.extent)
    for (j, decay) in decays.enumerated() {
      let beta = min(max(decay, 0), 1)
      let keep = 1 - beta
      for r in 0..<plan.rowCount {
        statistics.row[r * k + j] =
          beta * statistics.row[r * k + j] + keep * (rowSums[r] / rowExtent)
      }
      for c in 0..<plan.columnCount {
        statistics.column[c * k + j] =
          beta * statistics.column[c * k + j] + keep * (columnSums[c] / columnExtent)
      }
    }
    // Group means of the row statistics (over the reduced column axis), kept in rowRsqrt.
    let groupSums = statistics.rowRsqrt
    let groupCount = plan.rowCount / max(plan.groups.extent, 1)
    groupSums.initialize(repeating: 0, count: groupCount * k)
    for r in 0..<plan.rowCount {
      let group = plan.groups.reducedIndex(r)
      for j in 0..<k { groupSums[group * k + j] += statistics.row[r * k + j] }
    }
    let groupExtent = Float(plan.groups.extent)
    for r in 0..<plan.rowCount {
      let group = plan.groups.reducedIndex(r)
      for j in 0..<k {
        let mean = groupSums[group * k + j] / groupExtent
        statistics.rowFactor[r * k + j] = safeRsqrt(statistics.row[r * k + j] / (mean + 1e-9))
      }
    }
    for index in 0..<(plan.rowCount * k) {
      statistics.rowRsqrt[index] = lopt_rsqrtf(statistics.row[index] + 1e-8)
    }
    for index in 0..<(plan.columnCount * k) {
      statistics.columnFactor[index] = safeRsqrt(statistics.column[index])
      statistics.columnRsqrt[index] = lopt_rsqrtf(statistics.column[index] + 1e-8)
    }
  }

  /// `rsqrt(max(x, 1e-9))` (`common.safe_rsqrt`).
  @inline(__always)
  static func safeRsqrt(_ x: Float) -> Float { lopt_rsqrtf(max(x, 1e-9)) }
}

/// One tensor's factored statistics and the per-vector factors derived from them; every
/// pointer holds `count × K` values with the decay axis last.
struct FactoredBuffers {
  /// Row statistics `r` (state).
  let row: UnsafeMutablePointer<Float>
  /// Column statistics `c` (state).
  let column: UnsafeMutablePointer<Float>
  /// Row factors ρ.
  let rowFactor: UnsafeMutablePointer<Float>
  /// Column factors γ.
  let columnFactor: UnsafeMutablePointer<Float>
  /// `rsqrt(r + 1e-8)`.
  let rowRsqrt: UnsafeMutablePointer<Float>
  /// `rsqrt(c + 1e-8)`.
  let columnRsqrt: UnsafeMutablePointer<Float>
}

/// A source of the raw (un-normalised) per-parameter features of one tensor.
protocol PerParameterFeatures {
  /// The number of features per element.
  var featureCount: Int { get }
  /// Writes element `index`'s features to `features[0..<featureCount]`.
  func write(element index: Int, into features: UnsafeMutablePointer<Float>)
}

/// Sees the intermediate values of every element as a per-parameter MLP step runs (tests use
/// it to compare with the reference's intermediates; the optimizers run with ``NoObserver``).
protocol PerParameterObserver {
  /// Whether ``observe(tensor:element:rawFeatures:input:output:update:)`` records anything
  /// (when not, the step skips gathering the values it would be passed).
  static var isActive: Bool { get }

  /// Called once per element after the update is computed.
  mutating func observe(
    tensor: Int, element: Int, rawFeatures: UnsafeBufferPointer<Float>,
    input: UnsafeBufferPointer<Float>, output: (direction: Float, magnitude: Float),
    update: Float)
}

/// The observer that records nothing.
struct NoObserver: PerParameterObserver {
  static var isActive: Bool { false }

  @inline(__always)
  mutating func observe(
    tensor: Int, element: Int, rawFeatures: UnsafeBufferPointer<Float>,
    input: UnsafeBufferPointer<Float>, output: (direction: Float, magnitude: Float),
    update: Float
  ) {}
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

/// Scratch memory for ``PerParameterStep``, allocated once per optimizer state.
struct PerParameterScratch: Sendable {
  /// Raw features of one element, the step features, the block's normalised inputs
  /// (`[inputs][block]`), the MLP's activations.
  var floats: [Float]
  /// Per-feature sums of squares over the tensor.
  var sums: [Double]

  /// Scratch for `featureCount` features, `stepFeatureCount` appended inputs and `network`.
  init(
    featureCount: Int, stepFeatureCount: Int = TrainingStepEmbedding.count,
    network: PerParameterMLP
  ) {
    let block = PerParameterMLP.blockSize
    floats = [Float](
      repeating: 0,
      count: 2 * featureCount + stepFeatureCount + network.widths[0] * block
        + 2 * network.maximumWidth * block)
    sums = [Double](repeating: 0, count: featureCount)
  }
}

/// The per-parameter MLP step of MLPLOpt and AdafacMLP for one tensor (spec §2.1, §2.2).
///
/// ```
/// x̂_c = x_c · rsqrt(1e-5 + mean over the tensor of x_c²)     (every feature channel c)
/// (d, a) = MLP([x̂, step features])
/// p ← p − d · exp(expMult · a) · stepMult
/// ```
/// Pass 1 accumulates the channel sums of squares; pass 2 recomputes the features block by
/// block (``PerParameterMLP/blockSize`` elements), normalises them, runs the MLP on the block
/// and writes the parameters. No `[S, F]` buffer is made.
enum PerParameterStep {
  /// Applies the step to the `count` parameters at `parameters`.
  ///
  /// `stepFeatures` (the un-normalised inputs appended after the features) must already sit at
  /// `scratch.floats[2F ..< 2F + stepFeatures]`, where `F` is `source.featureCount`.
  static func apply<Source: PerParameterFeatures, Observer: PerParameterObserver>(
    _ source: Source, tensor: Int, parameters: UnsafeMutablePointer<Float>, count: Int,
    network: PerParameterMLP, theta: UnsafePointer<Float>, expMult: Float, stepMult: Float,
    scratch: inout PerParameterScratch, observer: inout Observer
  ) {
    guard count > 0 else { return }
    let featureCount = source.featureCount
    let inputCount = network.widths[0]
    let block = PerParameterMLP.blockSize
    scratch.sums.withUnsafeMutableBufferPointer { sums in
      scratch.floats.withUnsafeMutableBufferPointer { floats in
        let raw = floats.baseAddress!
        let stepFeatures = raw + 2 * featureCount
        let inputs = stepFeatures + (inputCount - featureCount)
        let activations = inputs + inputCount * block
        for c in 0..<featureCount { sums[c] = 0 }
        for i in 0..<count {
          source.write(element: i, into: raw)
          for c in 0..<featureCount { sums[c] += Double(raw[c] * raw[c]) }
        }
        for c in 0..<featureCount {
          sums[c] = Double(lopt_rsqrtf(1e-5 + Float(sums[c] / Double(count))))
        }
        for c in featureCount..<inputCount {
          let value = stepFeatures[c - featureCount]
          for e in 0..<block { inputs[c * block + e] = value }
        }
        for first in stride(from: 0, to: count, by: block) {
          let n = min(block, count - first)
          for e in 0..<n {
            source.write(element: first + e, into: raw)
            for c in 0..<featureCount { inputs[c * block + e] = raw[c] * Float(sums[c]) }
          }
          let output = network.apply(
            theta: theta, input: inputs, count: n, scratch: activations)
          for e in 0..<n {
            let (direction, magnitude) = (output[e], output[block + e])
            let step = direction * exp(magnitude * expMult) * stepMult
            if Observer.isActive {
              source.write(element: first + e, into: raw)
              let input = raw + featureCount
              for c in 0..<inputCount { input[c] = inputs[c * block + e] }
              observer.observe(
                tensor: tensor, element: first + e,
                rawFeatures: UnsafeBufferPointer(start: raw, count: featureCount),
                input: UnsafeBufferPointer(start: input, count: inputCount),
                output: (direction, magnitude), update: step)
            }
            parameters[first + e] -= step
          }
        }
      }
    }
  }

  /// Writes the training-step embedding for `iteration` after the features in `scratch`.
  static func setStepFeatures(
    iteration: Int, featureCount: Int, scratch: inout PerParameterScratch
  ) {
    scratch.floats.withUnsafeMutableBufferPointer {
      TrainingStepEmbedding.write(iteration: iteration, into: $0.baseAddress! + 2 * featureCount)
    }
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
