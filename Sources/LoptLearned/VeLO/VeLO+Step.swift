import CLoptKernels
import Foundation
import LoptCore

extension VeLO {
  /// One step, as docs/velo.md §16 computes it; `trace` records per-element intermediates.
  ///
  /// The numbered comments follow the order the code runs in; each names the steps of the
  /// reference's order (docs/velo.md §12) it performs, as "§12.n".
  func step(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State,
    trace: Trace?
  ) {
    precondition(
      parameters.count == state.layout.totalCount && parameters.layout.count == state.plans.count,
      "the parameters do not have the layout the VeLO state was made for")
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    precondition(
      metaParameters.count == offsets.total, "the meta-parameters no longer have VeLO's layout")
    guard loss.isFinite, gradients.isFinite else {
      state.skippedUpdates += 1
      return
    }
    state.makeUnique()
    let n = state.plans.count
    let decays = VeLODecays(configuration)

    // 1. Loss buffer and loss features (E4–E5; §12.1).
    state.updateLossFeatures(loss: loss)
    // 2. Fraction of training done (float32, before the increment; §12.3).
    let fractionDone = Float(state.iteration) / Float(state.totalSteps)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: FractionEmbedding.count) { fraction in
      FractionEmbedding.write(fractionDone: fractionDone, into: fraction.baseAddress!)
      // 3. Phase 1, per tensor: the LSTM inputs from the old accumulators (E6), then the
      //    accumulators updated with the clipped gradient (E1–E3) (§12.2, §12.4, §12.7).
      gradients.withUnsafeBufferPointer { g in
        parameters.withUnsafeBufferPointer { p in
          for (index, plan) in state.plans.enumerated() {
            state.prepareTensor(
              index, parameters: p.baseAddress! + plan.offset,
              gradients: g.baseAddress! + plan.offset, decays: decays,
              fraction: UnsafePointer(fraction.baseAddress!))
          }
        }
      }
    }
    // 4. Phase 2, all tensors at once: the tensor-level network (E7–E9), the new LSTM state
    //    and the per-tensor MLPs blended from the bank (E10) (§12.5, §12.6, E10 of §12.8).
    metaParameters.withUnsafeBufferPointer { theta in
      runTensorNetwork(theta: theta.baseAddress!, state: state, tensorCount: n)
    }
    // 5. Phase 3, per tensor: features, normalisation, MLP, update (E11–E14; the rest of
    //    §12.8).
    gradients.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        for (index, plan) in state.plans.enumerated() where plan.count > 0 {
          state.updateTensor(
            index, parameters: p.baseAddress! + plan.offset,
            gradients: g.baseAddress! + plan.offset, configuration: configuration, trace: trace)
        }
      }
    }
    // 6. The iteration counter (§12.9).
    state.iteration += 1
  }

  /// Phase 2, E7–E10 over all tensors at once: mixing with the cross-tensor max, one LSTM step,
  /// the heads, the new LSTM state, and the per-tensor MLP mixed from the bank.
  ///
  /// - Complexity: one `[n, 2H] × [2H, 4H]` GEMM plus smaller ones; allocates nothing.
  func runTensorNetwork(theta: UnsafePointer<Float>, state: State, tensorCount n: Int) {
    let r = state.regions
    let base = state.storage.floats
    let (h, pCount) = (configuration.lstmHiddenSize, configuration.paramInits)
    let o = offsets
    let x = UnsafePointer(base + r.lstmInputs)
    let mix = base + r.mixMax
    let concat = base + r.concat
    let gates = base + r.gates
    let hidden = base + r.hidden
    let cell = base + r.cell
    let controls = base + r.controls
    let rates = base + r.learningRates

    // E7: v = max over rows of ReLU(X·W₁ + b₁); X' = X·W₂ + b₂ + v (the `linear` layer is
    // computed by the reference and discarded; it has no effect, so it is skipped).
    fillRows(mix, rows: n, width: h, ld: h, with: theta + o.mixMaxBias)
    accumulateProduct(m: n, n: h, k: 30, a: x, b: theta + o.mixMaxWeight, c: mix)
    for j in 0..<h {
      var largest = -Float.infinity
      for i in 0..<n { largest = max(largest, max(mix[i * h + j], 0)) }
      mix[j] = largest
    }
    fillRows(concat, rows: n, width: h, ld: 2 * h, with: theta + o.mixBias)
    accumulateProduct(m: n, n: h, k: 30, a: x, b: theta + o.mixWeight, c: concat, ldc: 2 * h)
    for i in 0..<n {
      for j in 0..<h { concat[i * 2 * h + j] += mix[j] }
      (concat + i * 2 * h + h).update(from: hidden + i * h, count: h)
    }
    // E8: z = [X', h]·W + b, gates (i, g, f, o), forget bias +1.
    fillRows(gates, rows: n, width: 4 * h, ld: 4 * h, with: theta + o.lstmBias)
    accumulateProduct(m: n, n: 4 * h, k: 2 * h, a: concat, b: theta + o.lstmWeight, c: gates)
    lopt_velo_lstm_cell(gates, hidden, cell, n, h)
    // E9: controls and λ.
    fillRows(controls, rows: n, width: pCount, ld: pCount, with: theta + o.controlsBias)
    accumulateProduct(m: n, n: pCount, k: h, a: hidden, b: theta + o.controlsWeight, c: controls)
    fillRows(rates, rows: n, width: 1, ld: 1, with: theta + o.stepSizeBias)
    accumulateProduct(m: n, n: 1, k: h, a: hidden, b: theta + o.stepSizeWeight, c: rates)
    // The LSTM state the next step starts from (§7).
    if configuration.useBuggedNextLSTMState {
      for i in 0..<n {
        (hidden + i * h).update(from: theta + o.initHidden, count: h)
        (cell + i * h).update(from: theta + o.initCell, count: h)
      }
    } else if configuration.rnnStateDecay > 0 {
      let keep = 1 - configuration.rnnStateDecay
      for i in 0..<(n * h) {
        hidden[i] *= keep
        cell[i] *= keep
      }
    }
    // E10: A_i = (100 / P) Σ_k C_ik A^(k), one GEMM per bank array into [n, 159].
    let mixed = base + r.mlpWeights
    var column = 0
    for (k, width) in Self.bankWidths.enumerated() {
      for i in 0..<n {
        (mixed + i * Self.mlpWeightCount + column).update(repeating: 0, count: width)
      }
      accumulateProduct(
        m: n, n: width, k: pCount, alpha: 100 / Float(pCount), a: controls,
        b: theta + o.bank[k], c: mixed + column, ldc: Self.mlpWeightCount)
      column += width
    }
  }

  /// The widths of the bank arrays in ``bankOrder``.
  static let bankWidths: [Int] = bankOrder.map(\.width)
}

/// Adds `alpha · A · B` to `C` (row-major `A: [m, k]`, `B: [k, n]`, `C: [m, n]` with `ldc`).
///
/// `lopt_velo_gemm` (CLoptKernels) reads `B` once, in panels reused by register tiles. OpenBLAS
/// would pack all of `B` on every call (8 MB per step for the LSTM's gate matrix at the released
/// size) and `malloc` in its small products, which `update` must not.
@inline(__always)
func accumulateProduct(
  m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
  c: UnsafeMutablePointer<Float>, ldc: Int? = nil
) {
  lopt_velo_gemm(m, n, k, alpha, a, k, b, n, c, ldc ?? n)
}

/// Sets each of `rows` rows (leading dimension `ld`) to the `width` values at `values`.
@inline(__always)
func fillRows(
  _ target: UnsafeMutablePointer<Float>, rows: Int, width: Int, ld: Int,
  with values: UnsafePointer<Float>
) {
  for i in 0..<rows { (target + i * ld).update(from: values, count: width) }
}
