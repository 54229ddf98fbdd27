import CLoptKernels
import CLoptShims
import Foundation

/// The fixed decays of VeLO's accumulators, as float32 values.
struct VeLODecays: Sendable {
  var momentum: (Float, Float, Float)
  var rms: Float
  var factored: (Float, Float, Float)

  init(_ configuration: VeLO.Configuration) {
    let m = configuration.momentumDecays
    let f = configuration.adafactorDecays
    momentum = (m[0], m[1], m[2])
    rms = configuration.rmsDecay
    factored = (f[0], f[1], f[2])
  }
}

/// `Λ(v) = 0.5 · clip(ln(1e-8 + |10·v|), −5, 5)`, the LSTM features' log compression (E6).
@inline(__always)
func logClip(_ value: Float) -> Float {
  0.5 * min(max(Foundation.log(1e-8 + abs(10 * value)), -5), 5)
}

/// The contiguous runs of a tensor's elements and their row and column indices.
///
/// Calls `body(start, length, rowStart, rowStride, columnStart, columnStride)` for each run of
/// `length` consecutive elements from flat index `start`; strides are 0 or 1.
@inline(__always)
func forEachRun(
  _ plan: TensorPlan, _ body: (Int, Int, Int, Int, Int, Int) -> Void
) {
  let (a, x, b, y, c) = (plan.a, plan.x, plan.b, plan.y, plan.c)
  if c > 1 {
    for ia in 0..<a {
      for ix in 0..<x {
        for ib in 0..<b {
          for iy in 0..<y {
            let start = (((ia * x + ix) * b + ib) * y + iy) * c
            let noX = ((ia * b + ib) * y + iy) * c
            let noY = ((ia * x + ix) * b + ib) * c
            if plan.d0IsX { body(start, c, noX, 1, noY, 1) } else { body(start, c, noY, 1, noX, 1) }
          }
        }
      }
    }
  } else {
    for ia in 0..<a {
      for ix in 0..<x {
        for ib in 0..<b {
          let start = ((ia * x + ix) * b + ib) * y
          let noX = (ia * b + ib) * y
          let noY = (ia * x + ix) * b + ib
          if plan.d0IsX { body(start, y, noX, 1, noY, 0) } else { body(start, y, noY, 0, noX, 1) }
        }
      }
    }
  }
}

extension VeLO.State {
  /// Phase 1 for tensor `index`: the 30 LSTM inputs from the *previous* accumulators (E6), the
  /// tensor's RMS (E13), the accumulator updates with the clipped gradient (E1–E3), and the
  /// Σx² of the per-parameter channels that need no second-moment factor (E11).
  ///
  /// One pass in C (`lopt_velo_update_accumulators`, CLoptKernels, chosen per CPU like the fused
  /// kernel). The centred variances of m̃ = s·m and r̃ = s·rms (s = 1 / rms(p)) are
  /// s² Σ(m − m̄)², with m̄ the means the previous pass left in ``Regions/accumulatorMeans``, so
  /// s need not be known in advance. Factored row and column means are accumulated in `Double`.
  ///
  /// - Complexity: O(elements); allocates nothing.
  func prepareTensor(
    _ index: Int, parameters p: UnsafePointer<Float>, gradients g: UnsafePointer<Float>,
    decays: VeLODecays, fraction: UnsafePointer<Float>
  ) {
    let plan = plans[index]
    let n = plan.count
    let base = storage.floats
    let features = base + regions.lstmInputs + 30 * index
    let v = base + regions.rms + plan.offset
    for j in 0..<9 {
      features[j] = fraction[j]
      features[9 + j] = base[regions.lossFeatures + j]
    }
    for j in 0..<5 { features[19 + j] = plan.rankIndex == j ? 1 : 0 }
    guard n > 0 else {
      base[regions.paramScale + index] = 0
      features[18] = logClip(0)
      for j in 24..<30 { features[j] = logClip(0) }
      return
    }

    let means = base + regions.accumulatorMeans + 4 * index
    var update = LoptVeLOAccumulators()
    update.p = p
    update.g = g
    update.m = base + regions.momentum + 3 * plan.offset
    update.v = v
    update.n = n
    update.means = (means[0], means[1], means[2])
    update.momentumDecay = decays.momentum
    update.rmsDecay = decays.rms
    update.factoredDecay = decays.factored
    update.full = base + regions.full + plan.fullOffset
    if plan.isFactored {
      let rowSums = storage.doubles + regions.rowSums
      let columnSums = storage.doubles + regions.columnSums
      rowSums.update(repeating: 0, count: plan.rowCount)
      columnSums.update(repeating: 0, count: plan.columnCount)
      update.rowSums = rowSums
      update.columnSums = columnSums
      forEachRun(plan) { start, length, row, rowStride, column, columnStride in
        lopt_velo_update_accumulators(
          &update, start, length, row, rowStride, column, columnStride)
      }
      let rows = base + regions.rows + plan.rowOffset
      let columns = base + regions.columns + plan.columnOffset
      let (rc, cc) = (plan.rowCount, plan.columnCount)
      let (rowDivisor, columnDivisor) = (Double(plan.shape[plan.d0]), Double(plan.shape[plan.d1]))
      let (bf0, bf1, bf2) = decays.factored
      for j in 0..<rc {
        let mean = Float(rowSums[j] / rowDivisor)
        rows[j] = bf0 * rows[j] + (1 - bf0) * mean
        rows[rc + j] = bf1 * rows[rc + j] + (1 - bf1) * mean
        rows[2 * rc + j] = bf2 * rows[2 * rc + j] + (1 - bf2) * mean
      }
      for j in 0..<cc {
        let mean = Float(columnSums[j] / columnDivisor)
        columns[j] = bf0 * columns[j] + (1 - bf0) * mean
        columns[cc + j] = bf1 * columns[cc + j] + (1 - bf1) * mean
        columns[2 * cc + j] = bf2 * columns[2 * cc + j] + (1 - bf2) * mean
      }
    } else {
      lopt_velo_update_accumulators(&update, 0, n, 0, 0, 0, 0)
    }

    let count = Double(n)
    let meanSquare = withUnsafeBytes(of: update.moments) { $0.load(as: Double.self) } / count
    let s = Double(1 / lopt_sqrtf(max(1e-9, Float(meanSquare))))
    base[regions.paramScale + index] = lopt_sqrtf(Float(meanSquare) + 1e-9)
    features[18] = logClip(Float(s * Double(means[3])))
    withUnsafeBytes(of: update.moments) { raw in
      let moments = raw.bindMemory(to: Double.self)
      for k in 0..<6 { features[24 + k] = logClip(Float(s * s * moments[1 + k] / count)) }
    }
    withUnsafeBytes(of: update.sums) { raw in
      let sums = raw.bindMemory(to: Double.self)
      for k in 0..<4 { means[k] = Float(sums[k] / count) }
    }
    withUnsafeBytes(of: update.squares) { raw in
      (storage.doubles + regions.elementSquares + 30 * index).update(
        from: raw.bindMemory(to: Double.self).baseAddress!, count: 30)
    }
  }
}
