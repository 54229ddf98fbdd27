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

/// Eight consecutive floats from `base + i`.
@inline(__always)
func loadLanes(_ base: UnsafePointer<Float>, _ i: Int) -> Lanes {
  UnsafeRawPointer(base + i).loadUnaligned(as: Lanes.self)
}

/// Stores eight floats at `base + i`.
@inline(__always)
func storeLanes(_ value: Lanes, _ base: UnsafeMutablePointer<Float>, _ i: Int) {
  UnsafeMutableRawPointer(base + i).storeBytes(of: value, as: Lanes.self)
}

extension VeLO.State {
  /// Phase 1 for tensor `index`: the 30 LSTM inputs from the *previous* accumulators (E6), the
  /// tensor's RMS (E13), then the accumulator updates with the clipped gradient (E1–E3).
  ///
  /// Two passes: sums (mean p², means of m̃ and r̃), then centred variances fused with the
  /// accumulator update. Factored row and column means are accumulated in `Double`.
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
    let m = UnsafePointer(base + regions.momentum + 3 * plan.offset)
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

    // Pass 0: means of p², m_k and rms (previous values), in lanes flushed to Double.
    var (sp, s0, s1, s2, sv) = (0.0, 0.0, 0.0, 0.0, 0.0)
    var done = 0
    while done < n {
      let size = min(kernelChunk, n - done)
      var (lp, l0, l1, l2, lv) = (Lanes(), Lanes(), Lanes(), Lanes(), Lanes())
      var j = done
      while j + 8 <= done + size {
        let pe = loadLanes(p, j)
        lp += pe * pe
        l0 += loadLanes(m, j)
        l1 += loadLanes(m + n, j)
        l2 += loadLanes(m + 2 * n, j)
        lv += loadLanes(v, j)
        j += 8
      }
      while j < done + size {
        lp[0] += p[j] * p[j]
        l0[0] += m[j]
        l1[0] += m[n + j]
        l2[0] += m[2 * n + j]
        lv[0] += v[j]
        j += 1
      }
      sp += Double(lp.sum())
      s0 += Double(l0.sum())
      s1 += Double(l1.sum())
      s2 += Double(l2.sum())
      sv += Double(lv.sum())
      done += size
    }
    let count = Double(n)
    let meanSquare = Float(sp / count)
    let s = 1 / lopt_sqrtf(max(1e-9, meanSquare))
    base[regions.paramScale + index] = lopt_sqrtf(meanSquare + 1e-9)
    let mu0 = Float(Double(s) * s0 / count)
    let mu1 = Float(Double(s) * s1 / count)
    let mu2 = Float(Double(s) * s2 / count)
    features[18] = logClip(Float(Double(s) * sv / count))

    // Pass A: centred variances of the previous m̃, r̃, then the accumulator update. The
    // squared gradients q go to the chunk scratch, then into the row / column sums.
    // Σ(m̃_k − μ_k)² and Σ(r̃ − μ_k)², k = 0…2, in Double scratch (a pointer, not captured
    // variables, so the nested function below allocates nothing).
    let variance = storage.doubles + regions.varianceSums
    variance.update(repeating: 0, count: 6)
    let (bm0, bm1, bm2) = decays.momentum
    let br = decays.rms
    let (bf0, bf1, bf2) = decays.factored
    let q = base + regions.chunk
    let mutableM = base + regions.momentum + 3 * plan.offset
    /// Updates `length` (≤ kernelChunk) elements from `e`, writing q to the chunk scratch.
    @inline(__always)
    func updateChunk(_ e: Int, _ length: Int) {
      var lanes = (Lanes(), Lanes(), Lanes(), Lanes(), Lanes(), Lanes())
      let (sl, u0, u1, u2) = (
        Lanes(repeating: s), Lanes(repeating: mu0), Lanes(repeating: mu1), Lanes(repeating: mu2)
      )
      var j = 0
      while j + 8 <= length {
        let i = e + j
        let (m0, m1, m2, ve) = (
          loadLanes(m, i), loadLanes(m + n, i), loadLanes(m + 2 * n, i), loadLanes(v, i)
        )
        let (d0, d1, d2) = (sl * m0 - u0, sl * m1 - u1, sl * m2 - u2)
        lanes.0 += d0 * d0
        lanes.1 += d1 * d1
        lanes.2 += d2 * d2
        let sr = sl * ve
        let (r0, r1, r2) = (sr - u0, sr - u1, sr - u2)
        lanes.3 += r0 * r0
        lanes.4 += r1 * r1
        lanes.5 += r2 * r2
        var gc = loadLanes(g, i)
        gc = gc.replacing(with: -1000, where: gc .< -1000)
        gc = gc.replacing(with: 1000, where: gc .> 1000)
        storeLanes(Lanes(repeating: bm0) * m0 + Lanes(repeating: 1 - bm0) * gc, mutableM, i)
        storeLanes(Lanes(repeating: bm1) * m1 + Lanes(repeating: 1 - bm1) * gc, mutableM + n, i)
        storeLanes(Lanes(repeating: bm2) * m2 + Lanes(repeating: 1 - bm2) * gc, mutableM + 2 * n, i)
        storeLanes(Lanes(repeating: br) * ve + Lanes(repeating: 1 - br) * (gc * gc), v, i)
        storeLanes(gc * gc + Lanes(repeating: 1e-30), q, j)
        j += 8
      }
      while j < length {
        let i = e + j
        let (m0, m1, m2, ve) = (m[i], m[n + i], m[2 * n + i], v[i])
        let (d0, d1, d2) = (s * m0 - mu0, s * m1 - mu1, s * m2 - mu2)
        lanes.0[0] += d0 * d0
        lanes.1[0] += d1 * d1
        lanes.2[0] += d2 * d2
        let sr = s * ve
        let (r0, r1, r2) = (sr - mu0, sr - mu1, sr - mu2)
        lanes.3[0] += r0 * r0
        lanes.4[0] += r1 * r1
        lanes.5[0] += r2 * r2
        let gc = min(max(g[i], -1000), 1000)
        mutableM[i] = bm0 * m0 + (1 - bm0) * gc
        mutableM[n + i] = bm1 * m1 + (1 - bm1) * gc
        mutableM[2 * n + i] = bm2 * m2 + (1 - bm2) * gc
        v[i] = br * ve + (1 - br) * (gc * gc)
        q[j] = gc * gc + 1e-30
        j += 1
      }
      variance[0] += Double(lanes.0.sum())
      variance[1] += Double(lanes.1.sum())
      variance[2] += Double(lanes.2.sum())
      variance[3] += Double(lanes.3.sum())
      variance[4] += Double(lanes.4.sum())
      variance[5] += Double(lanes.5.sum())
    }
    if plan.isFactored {
      let rowSums = storage.doubles + regions.rowSums
      let columnSums = storage.doubles + regions.columnSums
      rowSums.update(repeating: 0, count: plan.rowCount)
      columnSums.update(repeating: 0, count: plan.columnCount)
      forEachRun(plan) { start, length, row, rowStride, column, columnStride in
        var done = 0
        while done < length {
          let size = min(kernelChunk, length - done)
          updateChunk(start + done, size)
          let (r, c) = (row + done * rowStride, column + done * columnStride)
          switch (rowStride, columnStride) {
          case (1, 1):
            for j in 0..<size {
              rowSums[r + j] += Double(q[j])
              columnSums[c + j] += Double(q[j])
            }
          case (1, _):
            var total = 0.0
            for j in 0..<size {
              rowSums[r + j] += Double(q[j])
              total += Double(q[j])
            }
            columnSums[c] += total
          default:
            var total = 0.0
            for j in 0..<size {
              columnSums[c + j] += Double(q[j])
              total += Double(q[j])
            }
            rowSums[r] += total
          }
          done += size
        }
      }
      let rows = base + regions.rows + plan.rowOffset
      let columns = base + regions.columns + plan.columnOffset
      let (rc, cc) = (plan.rowCount, plan.columnCount)
      let (rowDivisor, columnDivisor) = (Double(plan.shape[plan.d0]), Double(plan.shape[plan.d1]))
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
      let full = base + regions.full + plan.fullOffset
      var done = 0
      while done < n {
        let size = min(kernelChunk, n - done)
        updateChunk(done, size)
        for j in 0..<size {
          let e = done + j
          full[e] = bf0 * full[e] + (1 - bf0) * q[j]
          full[n + e] = bf1 * full[n + e] + (1 - bf1) * q[j]
          full[2 * n + e] = bf2 * full[2 * n + e] + (1 - bf2) * q[j]
        }
        done += size
      }
    }
    for k in 0..<6 { features[24 + k] = logClip(Float(variance[k] / count)) }
  }
}
