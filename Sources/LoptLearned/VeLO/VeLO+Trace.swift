import CLoptKernels
import CLoptShims
import Foundation
import LoptCore

extension VeLO {
  /// Per-element intermediates of one step, for tests and diagnostics.
  ///
  /// Filled by ``VeLO/update(_:gradients:loss:state:trace:)``. Every array is per tensor in
  /// layout order; a scalar tensor counts as one element.
  public final class Trace {
    /// The 30 MLP inputs per element before normalisation, `[elements, 30]` row-major.
    public internal(set) var mlpInputsRaw: [[Float]]
    /// The 30 MLP inputs per element after `x · rsqrt(1e-5 + mean(x²))`, `[elements, 30]`.
    public internal(set) var mlpInputs: [[Float]]
    /// The MLP outputs per element, `[elements, 3]`: direction, magnitude, unused.
    public internal(set) var mlpOutputs: [[Float]]
    /// The step Δ per element (parameters after = before − Δ).
    public internal(set) var updates: [[Float]]

    /// Creates an empty trace sized for `layout`.
    public init(layout: ParameterLayout) {
      let counts = layout.entries.map(\.count)
      mlpInputsRaw = counts.map { [Float](repeating: 0, count: 30 * $0) }
      mlpInputs = mlpInputsRaw
      mlpOutputs = counts.map { [Float](repeating: 0, count: 3 * $0) }
      updates = counts.map { [Float](repeating: 0, count: $0) }
    }
  }
}

/// Pointers into one tensor's parameters, gradient and VeLO state, as phase 3 reads them.
struct VeLOTensorView {
  let plan: TensorPlan
  let p: UnsafePointer<Float>
  let g: UnsafePointer<Float>
  /// Three momentum planes of `plan.count`.
  let m: UnsafePointer<Float>
  let v: UnsafePointer<Float>
  let rows: UnsafePointer<Float>
  let columns: UnsafePointer<Float>
  let full: UnsafePointer<Float>
  /// The planes of `CLoptVeLO.h` (`LOPT_VELO_RSQRT_PLANE`, …).
  let rowPlanes: UnsafePointer<Float>
  let columnPlanes: UnsafePointer<Float>
}

extension VeLO.State {
  /// Records tensor `index`'s intermediates in `trace`, computed plainly (one element at a
  /// time, explicit normalisation, the MLP written out) from the same state the fused kernel
  /// reads: the tests compare them with the reference's, and the kernel's output with them.
  func record(
    _ trace: VeLO.Trace, tensor index: Int, view: VeLOTensorView, scale: UnsafePointer<Float>,
    mixed: UnsafePointer<Float>, sigma: Float, lambda: Float, configuration: VeLO.Configuration
  ) {
    let plan = view.plan
    let (n, rc, cc) = (plan.count, plan.rowCount, plan.columnCount)
    let (m, v, rows, columns, full) = (view.m, view.v, view.rows, view.columns, view.full)
    let (rowPlanes, columnPlanes) = (view.rowPlanes, view.columnPlanes)
    let (rsqrtPlane, factorPlane) = (LOPT_VELO_RSQRT_PLANE, LOPT_VELO_FACTOR_PLANE)

    /// Writes the 30 raw features of element `e` (row index `ri`, column index `ci`).
    func features(_ e: Int, _ ri: Int, _ ci: Int, _ f: UnsafeMutablePointer<Float>) {
      let gc = min(max(view.g[e], -1000), 1000)
      let (m0, m1, m2) = (m[e], m[n + e], m[2 * n + e])
      let rms = v[e]
      let u = lopt_rsqrtf(rms + 1e-6)
      f[0] = gc
      f[1] = min(max(gc, -0.1), 0.1)
      f[2] = view.p[e]
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
          let rho = rowPlanes[(factorPlane + k) * rc + ri]
          let gamma = columnPlanes[(factorPlane + k) * cc + ci]
          f[11 + k] = gc * rho * gamma
          f[15 + k] = rows[k * rc + ri]
          f[18 + k] = columns[k * cc + ci]
          f[21 + k] = rowPlanes[(rsqrtPlane + k) * rc + ri]
          f[24 + k] = columnPlanes[(rsqrtPlane + k) * cc + ci]
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

    func forEachElement(_ body: (Int, Int, Int) -> Void) {
      if plan.isFactored {
        forEachRun(plan) { start, length, row, rowStride, column, columnStride in
          for j in 0..<length { body(start + j, row + j * rowStride, column + j * columnStride) }
        }
      } else {
        for e in 0..<n { body(e, 0, 0) }
      }
    }

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
}
