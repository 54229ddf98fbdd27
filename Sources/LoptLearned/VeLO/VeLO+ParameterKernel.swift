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

    // Factor channels, once per row / column.
    if plan.isFactored {
      for k in 0..<3 {
        for j in 0..<rc { rowPlanes[k * rc + j] = lopt_rsqrtf(rows[k * rc + j] + 1e-8) }
        for j in 0..<cc {
          columnPlanes[k * cc + j] = lopt_rsqrtf(columns[k * cc + j] + 1e-8)
          columnPlanes[(3 + k) * cc + j] = lopt_rsqrtf(max(columns[k * cc + j], 1e-9))
        }
        // ρ = rsqrt(max(r / (ā + 1e-9), 1e-9)), ā = mean of r over the d1 axis (within r).
        let r = rows + k * rc
        let rho = rowPlanes + (3 + k) * rc
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

    /// Writes the 30 raw features of element `e` (row index `ri`, column index `ci`).
    @inline(__always)
    func features(_ e: Int, _ ri: Int, _ ci: Int, _ f: UnsafeMutablePointer<Float>) {
      let gc = min(max(g[e], -1000), 1000)
      let (m0, m1, m2) = (m[e], m[n + e], m[2 * n + e])
      let rms = v[e]
      let u = lopt_rsqrtf(rms + 1e-6)
      f[0] = gc
      f[1] = min(max(gc, -0.1), 0.1)
      f[2] = p[e]
      f[3] = m0
      f[4] = m1
      f[5] = m2
      f[6] = rms
      f[7] = m0 * u
      f[8] = m1 * u
      f[9] = m2 * u
      f[10] = u
      f[14] = gc * u
      if plan.isFactored {
        for k in 0..<3 {
          let rho = rowPlanes[(3 + k) * rc + ri]
          let gamma = columnPlanes[(3 + k) * cc + ci]
          f[11 + k] = gc * rho * gamma
          f[15 + k] = rows[k * rc + ri]
          f[18 + k] = columns[k * cc + ci]
          f[21 + k] = rowPlanes[k * rc + ri]
          f[24 + k] = columnPlanes[k * cc + ci]
          f[27 + k] = m[k * n + e] * rho * gamma
        }
      } else {
        for k in 0..<3 {
          let vk = full[k * n + e]
          f[11 + k] = gc * lopt_rsqrtf(max(vk + 1e-9, 1e-9))
          f[15 + k] = vk
          f[18 + k] = vk
          f[21 + k] = lopt_rsqrtf(vk + 1e-8)
          f[24 + k] = f[21 + k]
          f[27 + k] = m[k * n + e] / lopt_sqrtf(vk)
        }
      }
    }

    @inline(__always)
    func forEachElement(_ body: (Int, Int, Int) -> Void) {
      if plan.isFactored {
        forEachRun(plan) { start, length, row, rowStride, column, columnStride in
          for j in 0..<length { body(start + j, row + j * rowStride, column + j * columnStride) }
        }
      } else {
        for e in 0..<n { body(e, 0, 0) }
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
            let (r, rs) = (rows[k * rc + j], rowPlanes[k * rc + j])
            r2 += Double(r * r)
            rs2 += Double(rs * rs)
          }
          for j in 0..<cc {
            let (c, cs) = (columns[k * cc + j], columnPlanes[k * cc + j])
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
      // Per row / column: the first layer's contribution of the 6 row and 6 column channels,
      // stored in planes 6…9 of the row and column planes (the rows' with the bias b0).
      for j in 0..<rc {
        for out in 0..<4 {
          var sum = weights[120 + out]
          for k in 0..<3 {
            sum += rows[k * rc + j] * weights[(15 + k) * 4 + out]
            sum += rowPlanes[k * rc + j] * weights[(21 + k) * 4 + out]
          }
          rowPlanes[(6 + out) * rc + j] = sum
        }
      }
      for j in 0..<cc {
        for out in 0..<4 {
          var sum: Float = 0
          for k in 0..<3 {
            sum += columns[k * cc + j] * weights[(18 + k) * 4 + out]
            sum += columnPlanes[k * cc + j] * weights[(24 + k) * 4 + out]
          }
          columnPlanes[(6 + out) * cc + j] = sum
        }
      }
    }

    if let trace {
      // Diagnostics: the same features with explicit normalisation (before p changes).
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { buffer in
        let f = buffer.baseAddress!
        forEachElement { e, ri, ci in
          features(e, ri, ci, f)
          for channel in 0..<30 {
            trace.mlpInputsRaw[index][e * 30 + channel] = f[channel]
            f[channel] *= scale[channel]
            trace.mlpInputs[index][e * 30 + channel] = f[channel]
          }
          var out = (mixed[156], mixed[157], mixed[158])
          var h1 = (mixed[120], mixed[121], mixed[122], mixed[123])
          for c in 0..<30 {
            h1.0 += f[c] * mixed[c * 4]
            h1.1 += f[c] * mixed[c * 4 + 1]
            h1.2 += f[c] * mixed[c * 4 + 2]
            h1.3 += f[c] * mixed[c * 4 + 3]
          }
          let a1 = [max(h1.0, 0), max(h1.1, 0), max(h1.2, 0), max(h1.3, 0)]
          var a2: [Float] = []
          for j in 0..<4 {
            var sum = mixed[140 + j]
            for i in 0..<4 { sum += a1[i] * mixed[124 + i * 4 + j] }
            a2.append(max(sum, 0))
          }
          for i in 0..<4 {
            out.0 += a2[i] * mixed[144 + i * 3]
            out.1 += a2[i] * mixed[144 + i * 3 + 1]
            out.2 += a2[i] * mixed[144 + i * 3 + 2]
          }
          trace.mlpOutputs[index][e * 3] = out.0
          trace.mlpOutputs[index][e * 3 + 1] = out.1
          trace.mlpOutputs[index][e * 3 + 2] = out.2
          var step =
            out.0 * (sigma * Foundation.exp(configuration.expMult * out.1))
            * configuration.stepMult * lambda
          if configuration.preconditionOutput { step *= lopt_rsqrtf(v[e] + 1e-6) }
          trace.updates[index][e] = step
        }
      }
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
