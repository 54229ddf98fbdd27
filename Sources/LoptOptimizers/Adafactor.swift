import CLoptShims
import Foundation
import LoptCore

/// Adafactor (Shazeer & Stern, 2018) exactly as optax's `adafactor` with its defaults.
///
/// For each tensor, with `t` the updates applied before this one and ρₜ = 1 − (t + 1)^(−0.8):
///
/// ```
/// G = g² + ε
/// factored (two axes of size ≥ 128; d₀ the largest, d₁ the next):
///   R ← ρₜ·R + (1 − ρₜ)·mean_{d₀}(G)     C ← ρₜ·C + (1 − ρₜ)·mean_{d₁}(G)
///   u = g · (R / mean_{d₁}(R))^(−½) · C^(−½)
/// otherwise:
///   V ← ρₜ·V + (1 − ρₜ)·G;   u = g · V^(−½)
/// u ← u / max(1, rms(u) / clippingThreshold)          (clip_by_block_rms)
/// p ← p − lr · max(rms(p), 1e-3) · u                  (multiply_by_parameter_scale)
/// ```
/// optax's optional momentum and weight decay (both off by default) are not offered.
public struct Adafactor: LearningRateOptimizer {
  /// The step size `lr`.
  public let learningRate: Float
  /// The exponent of the second-moment decay schedule (optax `decay_rate`).
  public let decayRate: Float
  /// Axes are factored only when two of them have at least this size.
  public let minimumFactoredSize: Int
  /// Whether updates are scaled by the parameters' root mean square.
  public let multipliesByParameterScale: Bool
  /// The largest root mean square of a tensor's update before scaling (`nil`: no clipping).
  public let clippingThreshold: Float?
  /// Added to the squared gradient.
  public let epsilon: Float

  /// Creates Adafactor with optax's defaults.
  ///
  /// - Precondition: `learningRate ≥ 0`, `decayRate > 0`, a positive threshold if any.
  public init(
    learningRate: Float = 1e-2, decayRate: Float = 0.8, minimumFactoredSize: Int = 128,
    multipliesByParameterScale: Bool = true, clippingThreshold: Float? = 1,
    epsilon: Float = 1e-30
  ) {
    precondition(learningRate >= 0, "the learning rate must be ≥ 0, got \(learningRate)")
    precondition(decayRate > 0, "Adafactor's decay rate must be > 0, got \(decayRate)")
    precondition(clippingThreshold.map { $0 > 0 } ?? true, "the clipping threshold must be > 0")
    self.learningRate = learningRate
    self.decayRate = decayRate
    self.minimumFactoredSize = minimumFactoredSize
    self.multipliesByParameterScale = multipliesByParameterScale
    self.clippingThreshold = clippingThreshold
    self.epsilon = epsilon
  }

  /// How one tensor's statistics are kept.
  ///
  /// A factored tensor is viewed as `[outer, low, middle, high, inner]`, where `low` and
  /// `high` are the two factored axes in axis order; `rest` indexes the other axes.
  struct Plan: Sendable, Equatable {
    /// The tensor's elements in the flat buffer.
    var range: Range<Int>
    /// Where its statistics start in ``State/statistics``.
    var offset: Int
    /// `[outer, low, middle, high, inner]` for a factored tensor, `nil` otherwise.
    var extents: [Int]?
    /// Whether the largest axis d₀ is `low` (otherwise it is `high`).
    var isLargestLow: Bool

    /// The number of statistics elements: `rest · (n₀ + n₁)` or the tensor's count.
    var statisticsCount: Int {
      guard let e = extents else { return range.count }
      return e[0] * e[2] * e[4] * (e[1] + e[3])
    }
  }

  /// Adafactor's second-moment statistics, scratch space and step counter.
  public struct State: CheckpointableState {
    /// The number of updates applied so far.
    public var iteration: Int
    /// Every tensor's statistics, one after another: `V` for an unfactored tensor, `R` then
    /// `C` for a factored one.
    public var statistics: Tensor
    /// Scratch: one tensor's update, then its row and column sums (rewritten every step).
    var scratch: Tensor
    /// Each tensor's plan, in layout order.
    let plans: [Plan]
    /// The parameter shapes the statistics were planned for, each as its rank then its
    /// extents: the packed ``statistics`` alone would fit a layout with a matrix transposed.
    let shapeCode: [Int32]

    /// Stores the statistics, `iteration` and the parameter shapes (`tensor_shapes`) under
    /// `prefix`.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      file.setCounter(iteration, named: prefix + "iteration")
      file.setFloat(statistics, named: prefix + "statistics")
      file.setInt32(shapeCode, shape: [shapeCode.count], named: prefix + "tensor_shapes")
    }

    /// Restores what ``write(into:prefix:)`` stored.
    ///
    /// - Throws: `SafetensorsError` when a tensor is missing, or was stored for other
    ///   parameter shapes (`tensor_shapes`).
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      let shapes = try file.int32Scalars(named: prefix + "tensor_shapes")
      guard shapes == shapeCode else {
        throw SafetensorsError.shapeMismatch(
          tensor: prefix + "tensor_shapes", expected: shapeCode.map(Int.init),
          found: shapes.map(Int.init))
      }
      iteration = try file.readCounter(named: prefix + "iteration")
      statistics = try file.readTensor(named: prefix + "statistics", shape: statistics.shape)
    }
  }

  /// Plans every tensor and allocates its statistics (zero) and the scratch space.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    var plans: [Plan] = []
    var offset = 0
    var scratchCount = 0
    for entry in parameters.layout.entries {
      var plan = Plan(range: entry.range, offset: offset, extents: nil, isLargestLow: false)
      if let factored = FactoredShape(shape: entry.shape),
        entry.shape[factored.column] >= minimumFactoredSize
      {
        plan.extents = [
          factored.outer, factored.extentA, factored.middle, factored.extentB, factored.inner,
        ]
        plan.isLargestLow = factored.rowAxisIsA
      }
      offset += plan.statisticsCount
      scratchCount = max(scratchCount, entry.count + plan.statisticsCount)
      plans.append(plan)
    }
    return State(
      iteration: 0, statistics: Tensor(shape: [offset]), scratch: Tensor(shape: [scratchCount]),
      plans: plans,
      shapeCode: parameters.layout.entries.flatMap {
        [Int32($0.shape.count)] + $0.shape.map(Int32.init)
      })
  }

  /// Applies one step, tensor by tensor.
  ///
  /// - Complexity: O(parameters); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    let rho = 1 - pow(Float(state.iteration + 1), -decayRate)
    state.iteration += 1
    let plans = state.plans
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        state.statistics.withUnsafeMutableBufferPointer { s in
          state.scratch.withUnsafeMutableBufferPointer { scratch in
            for plan in plans {
              let count = plan.range.count
              let grad = UnsafeBufferPointer(rebasing: g[plan.range])
              let u = UnsafeMutableBufferPointer(rebasing: scratch[0..<count])
              let stats = UnsafeMutableBufferPointer(
                rebasing: s[plan.offset..<(plan.offset + plan.statisticsCount)])
              if let extents = plan.extents {
                let sums = UnsafeMutableBufferPointer(
                  rebasing: scratch[count..<(count + plan.statisticsCount)])
                factoredDirection(
                  grad, into: u, statistics: stats, sums: sums, extents: extents,
                  isLargestLow: plan.isLargestLow, rho: rho)
              } else {
                for i in 0..<count {
                  let v = rho * stats[i] + (1 - rho) * (grad[i] * grad[i] + epsilon)
                  stats[i] = v
                  u[i] = grad[i] / lopt_sqrtf(v)
                }
              }
              apply(u, to: UnsafeMutableBufferPointer(rebasing: p[plan.range]), lr: learningRate)
            }
          }
        }
      }
    }
  }

  /// Clips `u` by its root mean square, scales it by the parameters' and steps.
  private func apply(
    _ u: UnsafeMutableBufferPointer<Float>, to p: UnsafeMutableBufferPointer<Float>, lr: Float
  ) {
    var scale = lr
    if let threshold = clippingThreshold {
      scale /= max(1, rootMeanSquare(UnsafeBufferPointer(u)) / threshold)
    }
    if multipliesByParameterScale {
      scale *= max(rootMeanSquare(UnsafeBufferPointer(p)), 1e-3)
    }
    for i in 0..<p.count { p[i] -= scale * u[i] }
  }

  /// The factored update of one tensor; `sums` has room for the row and column sums.
  private func factoredDirection(
    _ g: UnsafeBufferPointer<Float>, into u: UnsafeMutableBufferPointer<Float>,
    statistics: UnsafeMutableBufferPointer<Float>, sums: UnsafeMutableBufferPointer<Float>,
    extents e: [Int], isLargestLow: Bool, rho: Float
  ) {
    let (n0, n1) = isLargestLow ? (e[1], e[3]) : (e[3], e[1])
    let rest = e[0] * e[2] * e[4]
    // R is rest × n₁ (reduced over d₀), C is rest × n₀ (reduced over d₁).
    let (rowStart, columnStart) = (0, rest * n1)
    sums.update(repeating: 0)
    forEachElement(e, isLargestLow: isLargestLow) { element, r, i0, i1 in
      let x = g[element] * g[element] + epsilon
      sums[rowStart + r * n1 + i1] += x
      sums[columnStart + r * n0 + i0] += x
    }
    for i in 0..<(rest * n1) {
      statistics[i] = rho * statistics[i] + (1 - rho) * (sums[i] / Float(n0))
    }
    for i in (rest * n1)..<(rest * (n1 + n0)) {
      statistics[i] = rho * statistics[i] + (1 - rho) * (sums[i] / Float(n1))
    }
    // The mean of R over d₁ per rest index, kept in the (now free) first `rest` sums.
    for r in 0..<rest {
      var total: Float = 0
      for i1 in 0..<n1 { total += statistics[r * n1 + i1] }
      sums[r] = total / Float(n1)
    }
    forEachElement(e, isLargestLow: isLargestLow) { element, r, i0, i1 in
      let rowFactor = lopt_rsqrtf(statistics[r * n1 + i1] / sums[r])
      let columnFactor = lopt_rsqrtf(statistics[columnStart + r * n0 + i0])
      u[element] = g[element] * rowFactor * columnFactor
    }
  }

  /// Calls `body(element, rest, i₀, i₁)` for every element of a factored tensor in order.
  @inline(__always)
  private func forEachElement(
    _ e: [Int], isLargestLow: Bool, _ body: (Int, Int, Int, Int) -> Void
  ) {
    var element = 0
    for a in 0..<e[0] {
      for low in 0..<e[1] {
        for b in 0..<e[2] {
          for high in 0..<e[3] {
            for c in 0..<e[4] {
              let r = (a * e[2] + b) * e[4] + c
              if isLargestLow { body(element, r, low, high) } else { body(element, r, high, low) }
              element += 1
            }
          }
        }
      }
    }
  }
}

/// `√(mean(x²))`, accumulated in `Double`.
func rootMeanSquare(_ x: UnsafeBufferPointer<Float>) -> Float {
  guard !x.isEmpty else { return 0 }
  var total: Double = 0
  for value in x { total += Double(value) * Double(value) }
  return Float((total / Double(x.count)).squareRoot())
}
