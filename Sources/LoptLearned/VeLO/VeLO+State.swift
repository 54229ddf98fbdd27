import CLoptKernels
import Foundation
import LoptCore
import LoptOptimizers

extension VeLO {
  /// Everything VeLO carries between steps, plus the preallocated scratch of one step.
  ///
  /// Per-element accumulators are stored per tensor in structure-of-arrays form: tensor `i`
  /// with `count` elements at layout offset `o` owns `momentum[3o ..< 3o + 3·count]` as three
  /// planes (decay 0.9, 0.99, 0.999), `rms[o ..< o + count]`, and either factored row and
  /// column planes (rank ≥ 2) or three full planes `v` (rank ≤ 1). Use the `…(ofTensor:)`
  /// accessors for the reference's `S + [k]` layout.
  public struct State: Sendable {
    /// The number of updates applied (the reference's `iteration`).
    public internal(set) var iteration: Int
    /// The planned number of steps (`num_steps`).
    public let totalSteps: Int
    /// Updates skipped because the loss or a gradient element was not finite.
    public internal(set) var skippedUpdates: Int
    /// The parameter layout the state was made for.
    public let layout: ParameterLayout
    /// One plan per tensor, in layout order.
    let plans: [TensorPlan]
    /// Where each buffer lives in ``storage``.
    let regions: Regions
    /// Every buffer in one allocation, copied on write.
    var storage: Storage

    init(
      configuration: Configuration, layout: ParameterLayout, totalSteps: Int,
      initialHidden: [Float], initialCell: [Float]
    ) {
      precondition(totalSteps >= 1, "VeLO needs totalSteps ≥ 1, got \(totalSteps)")
      self.layout = layout
      self.totalSteps = totalSteps
      iteration = 0
      skippedUpdates = 0
      var plans: [TensorPlan] = []
      var (rowTotal, columnTotal, fullTotal) = (0, 0, 0)
      var (maxRows, maxColumns) = (0, 0)
      for entry in layout.entries {
        let plan = TensorPlan(
          shape: entry.shape, offset: entry.offset, rowOffset: rowTotal,
          columnOffset: columnTotal, fullOffset: fullTotal)
        rowTotal += 3 * plan.rowCount
        columnTotal += 3 * plan.columnCount
        fullTotal += plan.isFactored ? 0 : 3 * plan.count
        maxRows = max(maxRows, plan.rowCount)
        maxColumns = max(maxColumns, plan.columnCount)
        plans.append(plan)
      }
      self.plans = plans
      let (h, p, n) = (configuration.lstmHiddenSize, configuration.paramInits, layout.count)
      var next = 0
      func take(_ count: Int) -> Int {
        defer { next += count }
        return next
      }
      var r = Regions()
      r.hiddenSize = h
      r.paramInits = p
      r.lossMeans = take(10)
      r.lossRunningMin = take(10)
      r.lossDecays = take(10)
      r.lossFeatures = take(9)
      r.lstmInputs = take(n * 30)
      r.hidden = take(n * h)
      r.cell = take(n * h)
      r.controls = take(n * p)
      r.learningRates = take(n)
      r.mlpWeights = take(n * VeLO.mlpWeightCount)
      r.momentum = take(3 * layout.totalCount)
      r.rms = take(layout.totalCount)
      r.rows = take(rowTotal)
      r.columns = take(columnTotal)
      r.full = take(fullTotal)
      r.paramScale = take(n)
      r.mixMax = take(n * h)
      r.concat = take(n * 2 * h)
      r.gates = take(n * 4 * h)
      r.rowPlanes = take(LOPT_VELO_PLANE_COUNT * maxRows)
      r.columnPlanes = take(LOPT_VELO_PLANE_COUNT * maxColumns)
      r.channelScale = take(30)
      r.scaledWeights = take(VeLO.mlpWeightCount)
      r.accumulatorMeans = take(4 * n)
      r.rowSums = 0
      r.columnSums = maxRows
      r.elementSquares = maxRows + maxColumns
      regions = r
      storage = Storage(floatCount: next, doubleCount: r.elementSquares + 30 * n)
      let base = storage.floats
      let horizon = configuration.useBuggedLossFeatures ? 10 : totalSteps
      for (j, decay) in LossTrendFeatures.decays(horizon: horizon).enumerated() {
        base[r.lossDecays + j] = decay
        base[r.lossRunningMin + j] = LossTrendFeatures.initialRunningMinimum
      }
      for i in 0..<n {
        for j in 0..<h {
          base[r.hidden + i * h + j] = initialHidden[j]
          base[r.cell + i * h + j] = initialCell[j]
        }
      }
    }

    /// Sets every tensor's ``Regions/accumulatorMeans`` from its momentum and rms planes, for a
    /// state restored from a checkpoint that did not store them.
    func recomputeAccumulatorMeans() {
      let base = storage.floats
      for (index, plan) in plans.enumerated() where plan.count > 0 {
        let means = storage.floats + regions.accumulatorMeans + 4 * index
        let planes = [
          regions.momentum + 3 * plan.offset, regions.momentum + 3 * plan.offset + plan.count,
          regions.momentum + 3 * plan.offset + 2 * plan.count, regions.rms + plan.offset,
        ]
        for (k, start) in planes.enumerated() {
          var sum = 0.0
          for e in 0..<plan.count { sum += Double(base[start + e]) }
          means[k] = Float(sum / Double(plan.count))
        }
      }
    }

    /// Makes ``storage`` unique before a mutation (copy-on-write).
    mutating func makeUnique() {
      if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    private func copy(_ start: Int, _ count: Int) -> [Float] {
      Array(UnsafeBufferPointer(start: storage.floats + start, count: count))
    }

    /// The loss buffer's EMAs (10 time scales).
    public var lossMeans: [Float] { copy(regions.lossMeans, 10) }
    /// The loss buffer's running minima of the bias-corrected EMAs.
    public var lossRunningMin: [Float] { copy(regions.lossRunningMin, 10) }
    /// The loss buffer's decays `exp(−1/h_j)`.
    public var lossDecays: [Float] { copy(regions.lossDecays, 10) }
    /// The loss features of the last step (E5).
    public var lossFeatures: [Float] { copy(regions.lossFeatures, 9) }
    /// The LSTM inputs of the last step, `[tensors, 30]` row-major (E6).
    public var lstmInputs: [Float] { copy(regions.lstmInputs, layout.count * 30) }
    /// The LSTM hidden state, `[tensors, H]` row-major.
    public var lstmHidden: [Float] { copy(regions.hidden, layout.count * regions.hiddenSize) }
    /// The LSTM cell state, `[tensors, H]` row-major.
    public var lstmCell: [Float] { copy(regions.cell, layout.count * regions.hiddenSize) }
    /// The controls of the last step, `[tensors, P]` row-major (E9).
    public var controls: [Float] { copy(regions.controls, layout.count * regions.paramInits) }
    /// The learning-rate multipliers λ of the last step, one per tensor (E9).
    public var learningRateMultipliers: [Float] { copy(regions.learningRates, layout.count) }
    /// The tensors' RMS `sqrt(mean(p²) + 1e-9)` before the last step (E13).
    public var parameterScales: [Float] { copy(regions.paramScale, layout.count) }
    /// The mixed per-tensor MLPs of the last step, `[tensors, 159]` row-major (E10): `w0`
    /// `[30, 4]`, `b0` `[4]`, `w1` `[4, 4]`, `b1` `[4]`, `w2` `[4, 3]`, `b2` `[3]`.
    public var mlpWeights: [Float] {
      copy(regions.mlpWeights, layout.count * VeLO.mlpWeightCount)
    }

    /// The momentum of tensor `index` in the reference layout `S + [3]`.
    public func momentum(ofTensor index: Int) -> Tensor {
      let plan = plans[index]
      return interleave(
        regions.momentum + 3 * plan.offset, planes: 3, count: plan.count, shape: plan.shape + [3])
    }

    /// The second-moment EMA of tensor `index` in the reference layout `S + [1]`.
    public func rms(ofTensor index: Int) -> Tensor {
      let plan = plans[index]
      return interleave(
        regions.rms + plan.offset, planes: 1, count: plan.count, shape: plan.shape + [1])
    }

    /// The factored row accumulator of tensor `index` (`S` without `d0`, `+ [3]`); `[0, 3]` for
    /// rank ≤ 1 tensors.
    public func factoredRows(ofTensor index: Int) -> Tensor {
      let plan = plans[index]
      guard plan.isFactored else { return Tensor(shape: [0, 3]) }
      var shape = plan.shape
      shape.remove(at: plan.d0)
      return interleave(
        regions.rows + plan.rowOffset, planes: 3, count: plan.rowCount, shape: shape + [3])
    }

    /// The factored column accumulator of tensor `index` (`S` without `d1`, `+ [3]`); `[0, 3]`
    /// for rank ≤ 1 tensors.
    public func factoredColumns(ofTensor index: Int) -> Tensor {
      let plan = plans[index]
      guard plan.isFactored else { return Tensor(shape: [0, 3]) }
      var shape = plan.shape
      shape.remove(at: plan.d1)
      return interleave(
        regions.columns + plan.columnOffset, planes: 3, count: plan.columnCount,
        shape: shape + [3])
    }

    /// The full second-moment accumulator of a rank ≤ 1 tensor (`S + [3]`); `[0, 3]` when the
    /// tensor is factored.
    public func fullSecondMoment(ofTensor index: Int) -> Tensor {
      let plan = plans[index]
      guard !plan.isFactored else { return Tensor(shape: [0, 3]) }
      return interleave(
        regions.full + plan.fullOffset, planes: 3, count: plan.count, shape: plan.shape + [3])
    }

    /// The factored axes `(d0, d1)` of tensor `index` (docs/velo.md §4), or `nil` for rank ≤ 1.
    public func factoredAxes(ofTensor index: Int) -> (d0: Int, d1: Int)? {
      let plan = plans[index]
      return plan.isFactored ? (plan.d0, plan.d1) : nil
    }

    private func interleave(_ start: Int, planes: Int, count: Int, shape: [Int]) -> Tensor {
      var scalars = [Float](repeating: 0, count: planes * count)
      let source = storage.floats + start
      for k in 0..<planes {
        for i in 0..<count { scalars[i * planes + k] = source[k * count + i] }
      }
      return Tensor(shape: shape, scalars: scalars)
    }
  }

  /// Offsets of the state's buffers inside ``State/storage``.
  struct Regions: Sendable {
    var hiddenSize = 0, paramInits = 0
    var lossMeans = 0, lossRunningMin = 0, lossDecays = 0, lossFeatures = 0
    var lstmInputs = 0, hidden = 0, cell = 0, controls = 0, learningRates = 0, mlpWeights = 0
    var momentum = 0, rms = 0, rows = 0, columns = 0, full = 0, paramScale = 0
    var mixMax = 0, concat = 0, gates = 0
    var rowPlanes = 0, columnPlanes = 0, channelScale = 0, scaledWeights = 0
    /// Per tensor, the means of the three momentum planes and of the rms EMA, for the next
    /// step's LSTM inputs (kept by the update pass, saved with the state).
    var accumulatorMeans = 0
    /// Doubles: scratch for the factored row and column sums, and per tensor the Σx² of the
    /// per-parameter channels 0–10 and 14 (from phase 1 to phase 3).
    var rowSums = 0, columnSums = 0, elementSquares = 0
  }

  /// The state's buffers: one `Float` and one `Double` allocation (copy-on-write by ``State``).
  final class Storage: @unchecked Sendable {
    // Safe to send: only a uniquely referenced Storage is ever mutated (State.makeUnique).
    let floats: UnsafeMutablePointer<Float>
    let floatCount: Int
    let doubles: UnsafeMutablePointer<Double>
    let doubleCount: Int

    init(floatCount: Int, doubleCount: Int) {
      self.floatCount = floatCount
      self.doubleCount = doubleCount
      floats = .allocate(capacity: max(floatCount, 1))
      floats.initialize(repeating: 0, count: max(floatCount, 1))
      doubles = .allocate(capacity: max(doubleCount, 1))
      doubles.initialize(repeating: 0, count: max(doubleCount, 1))
    }

    func copy() -> Storage {
      let result = Storage(floatCount: floatCount, doubleCount: doubleCount)
      result.floats.update(from: floats, count: max(floatCount, 1))
      result.doubles.update(from: doubles, count: max(doubleCount, 1))
      return result
    }

    deinit {
      floats.deallocate()
      doubles.deallocate()
    }
  }
}

/// How one parameter tensor is traversed: its factored axes and the loop decomposition.
///
/// For a factored tensor (rank ≥ 2) with axes `X = min(d0, d1)` and `Y = max(d0, d1)`, the
/// shape is viewed as `[a, x, b, y, c]` (`a` the product of the axes before `X`, `b` between,
/// `c` after `Y`). An element's index without `X` is `((ia·b + ib)·y + iy)·c + ic`; without `Y`
/// it is `((ia·x + ix)·b + ib)·c + ic`. Rows (`r`, mean over `d0`) are indexed without `d0`,
/// columns (`c`, mean over `d1`) without `d1`.
struct TensorPlan: Sendable {
  var shape: [Int]
  var offset: Int
  var count: Int
  /// Index of the rank one-hot: the number of axes larger than 1 (≥ 5: no one-hot).
  var rankIndex: Int
  var isFactored: Bool
  var d0 = 0, d1 = 0
  var a = 1, x = 1, b = 1, y = 1, c = 1
  /// Whether `d0` is the earlier of the two axes (`X`).
  var d0IsX = false
  var rowCount = 0, columnCount = 0
  var rowOffset: Int, columnOffset: Int, fullOffset: Int

  init(shape: [Int], offset: Int, rowOffset: Int, columnOffset: Int, fullOffset: Int) {
    self.shape = shape
    self.offset = offset
    count = shape.reduce(1, *)
    rankIndex = shape.filter { $0 > 1 }.count
    isFactored = shape.count >= 2
    self.rowOffset = rowOffset
    self.columnOffset = columnOffset
    self.fullOffset = fullOffset
    guard let factored = FactoredShape(shape: shape) else { return }
    (d0, d1) = (factored.row, factored.column)
    (a, x, b, y, c) = (
      factored.outer, factored.extentA, factored.middle, factored.extentB, factored.inner
    )
    d0IsX = factored.rowAxisIsA
    rowCount = shape[d0] == 0 ? 0 : count / shape[d0]
    columnCount = shape[d1] == 0 ? 0 : count / shape[d1]
  }
}
