import CLoptKernels
import CLoptShims
import Foundation

extension VeLO.State {
  /// Phase 3 for tensor `index` (E11–E14): the fused per-parameter kernel.
  ///
  /// Row and column factor channels (`rsqrt(r + 1e-8)`, ρ, γ) are computed once per row or
  /// column (for rank ≤ 1 the kernels derive the per-element equivalents). Pass 1
  /// (`lopt_velo_sum_squares`, C in CLoptKernels, AVX-512 / AVX2 + FMA / portable chosen at run
  /// time) builds the features that use those factors in registers and sums their squares per
  /// channel (the other channels' sums come from phase 1,
  /// ``prepareTensor(_:parameters:gradients:decays:fraction:)``); pass 2 (`lopt_velo_apply`)
  /// builds them again, runs the 30 → 4 → 4 → 3 MLP whose first layer has the channel
  /// normalisers folded in, and writes `p ← p − λ · d · exp(expMult · a) · stepMult · σ_p`.
  /// No `[S, 30]` buffer exists.
  ///
  /// With `trace`, every element's intermediates are recomputed plainly first (VeLO+Trace.swift).
  ///
  /// - Complexity: O(elements); allocates nothing (unless `trace` is given).
  func updateTensor(
    _ index: Int, parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
    configuration: VeLO.Configuration, trace: VeLO.Trace?
  ) {
    let plan = plans[index]
    let n = plan.count
    let base = storage.floats
    let m = UnsafePointer(base + regions.momentum + 3 * plan.offset)
    let v = UnsafePointer(base + regions.rms + plan.offset)
    let (rc, cc) = (plan.rowCount, plan.columnCount)
    let rowPlanes = base + regions.rowPlanes
    let columnPlanes = base + regions.columnPlanes
    let rows = UnsafePointer(base + regions.rows + plan.rowOffset)
    let columns = UnsafePointer(base + regions.columns + plan.columnOffset)
    let full = UnsafePointer(base + regions.full + plan.fullOffset)
    let (rsqrtPlane, factorPlane, firstLayerPlane) = (
      LOPT_VELO_RSQRT_PLANE, LOPT_VELO_FACTOR_PLANE, LOPT_VELO_FIRST_LAYER_PLANE
    )

    // Factor channels, once per row / column.
    if plan.isFactored {
      for k in 0..<3 {
        for j in 0..<rc {
          rowPlanes[(rsqrtPlane + k) * rc + j] = lopt_rsqrtf(rows[k * rc + j] + 1e-8)
        }
        for j in 0..<cc {
          columnPlanes[(rsqrtPlane + k) * cc + j] = lopt_rsqrtf(columns[k * cc + j] + 1e-8)
          columnPlanes[(factorPlane + k) * cc + j] = lopt_rsqrtf(max(columns[k * cc + j], 1e-9))
        }
        // ρ = rsqrt(max(r / (ā + 1e-9), 1e-9)), ā = mean of r over the d1 axis (within r).
        let r = rows + k * rc
        let rho = rowPlanes + (factorPlane + k) * rc
        // Rows are indexed without d0; the d1 axis in that index (Y when d0 is X, else X) has
        // stride `inner`: ((ia·b + ib)·y + iy)·c + ic, or ((ia·x + ix)·b + ib)·c + ic.
        let (a, x, b, y, c) = (plan.a, plan.x, plan.b, plan.y, plan.c)
        let (outer, along, inner) = plan.d0IsX ? (a * b, y, c) : (a, x, b * c)
        for o in 0..<outer {
          for ic in 0..<inner {
            var sum: Float = 0
            for iy in 0..<along { sum += r[(o * along + iy) * inner + ic] }
            let mean = sum / Float(along)
            for iy in 0..<along {
              let j = (o * along + iy) * inner + ic
              rho[j] = lopt_rsqrtf(max(r[j] / (mean + 1e-9), 1e-9))
            }
          }
        }
      }
    }

    let scale = base + regions.channelScale
    let weights = base + regions.scaledWeights
    let mixed = base + regions.mlpWeights + VeLO.mlpWeightCount * index
    let lambda = base[regions.learningRates + index]
    let sigma = configuration.paramScaleMult ? base[regions.paramScale + index] : 1
    var kernel = LoptVeLOTensor(
      p: p, g: g, m: m, v: v, n: n, rowPlanes: UnsafePointer(rowPlanes),
      columnPlanes: UnsafePointer(columnPlanes), rowCount: rc, columnCount: cc, full: full,
      weights: UnsafePointer(weights),
      stepScale: lambda * configuration.stepMult, sigma: sigma, expMult: configuration.expMult,
      factored: plan.isFactored ? 1 : 0,
      preconditionOutput: configuration.preconditionOutput ? 1 : 0)

    // Pass 1: per-channel sums of squares.
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 30) { sums in
      // Channels 0–10 and 14 were summed in phase 1 (the other 18 entries there are 0).
      let totals = sums.baseAddress!
      totals.initialize(from: storage.doubles + regions.elementSquares + 30 * index, count: 30)
      if plan.isFactored {
        // Row and column channels are constant along d0 / d1: sum them per row / column.
        let (rowRepeat, columnRepeat) = (Double(plan.shape[plan.d0]), Double(plan.shape[plan.d1]))
        for k in 0..<3 {
          var (r2, rs2, c2, cs2) = (0.0, 0.0, 0.0, 0.0)
          for j in 0..<rc {
            let (r, rs) = (rows[k * rc + j], rowPlanes[(rsqrtPlane + k) * rc + j])
            r2 += Double(r * r)
            rs2 += Double(rs * rs)
          }
          for j in 0..<cc {
            let (c, cs) = (columns[k * cc + j], columnPlanes[(rsqrtPlane + k) * cc + j])
            c2 += Double(c * c)
            cs2 += Double(cs * cs)
          }
          totals[15 + k] = r2 * rowRepeat
          totals[21 + k] = rs2 * rowRepeat
          totals[18 + k] = c2 * columnRepeat
          totals[24 + k] = cs2 * columnRepeat
        }
        forEachRun(plan) { start, length, row, rowStride, column, columnStride in
          lopt_velo_sum_squares(
            &kernel, start, length, row, rowStride, column, columnStride, totals)
        }
      } else {
        lopt_velo_sum_squares(&kernel, 0, n, 0, 0, 0, 0, totals)
      }
      for channel in 0..<30 {
        scale[channel] = lopt_rsqrtf(1e-5 + Float(totals[channel] / Double(n)))
      }
    }
    // The tensor's MLP with the normalisers folded into the first layer.
    for channel in 0..<30 {
      for j in 0..<4 { weights[channel * 4 + j] = mixed[channel * 4 + j] * scale[channel] }
    }
    for j in 120..<VeLO.mlpWeightCount { weights[j] = mixed[j] }
    if plan.isFactored {
      // Per row / column: the first layer's contribution of the 6 row and 6 column channels
      // (the rows' with the bias b0).
      for j in 0..<rc {
        for out in 0..<4 {
          var sum = weights[120 + out]
          for k in 0..<3 {
            sum += rows[k * rc + j] * weights[(15 + k) * 4 + out]
            sum += rowPlanes[(rsqrtPlane + k) * rc + j] * weights[(21 + k) * 4 + out]
          }
          rowPlanes[(firstLayerPlane + out) * rc + j] = sum
        }
      }
      for j in 0..<cc {
        for out in 0..<4 {
          var sum: Float = 0
          for k in 0..<3 {
            sum += columns[k * cc + j] * weights[(18 + k) * 4 + out]
            sum += columnPlanes[(rsqrtPlane + k) * cc + j] * weights[(24 + k) * 4 + out]
          }
          columnPlanes[(firstLayerPlane + out) * cc + j] = sum
        }
      }
    }

    if let trace {
      record(
        trace, tensor: index,
        view: VeLOTensorView(
          plan: plan, p: UnsafePointer(p), g: g, m: m, v: v, rows: rows, columns: columns,
          full: full, rowPlanes: UnsafePointer(rowPlanes),
          columnPlanes: UnsafePointer(columnPlanes)),
        scale: UnsafePointer(scale), mixed: UnsafePointer(mixed), sigma: sigma, lambda: lambda,
        configuration: configuration)
    }

    // Pass 2: features, MLP, update.
    if plan.isFactored {
      forEachRun(plan) { start, length, row, rowStride, column, columnStride in
        lopt_velo_apply(&kernel, start, length, row, rowStride, column, columnStride)
      }
    } else {
      lopt_velo_apply(&kernel, 0, n, 0, 0, 0, 0)
    }
  }
}
