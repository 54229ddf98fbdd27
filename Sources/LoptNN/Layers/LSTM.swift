import Foundation
import LoptCore

/// One LSTM step with Haiku's semantics (`hk.LSTM`) for `rows` independent rows, from gate
/// pre-activations already computed by a GEMM.
///
/// Row `r` of `gates` is `z = [x, h_prev] · W + b` (input first, then the previous hidden
/// state), four blocks of `hiddenCount` in the order (i, g, f, o):
///
/// ```
/// c = σ(f + 1) ⊙ c_prev + σ(i) ⊙ tanh(g)      (constant forget bias +1)
/// h = σ(o) ⊙ tanh(c)
/// ```
///
/// - Parameters:
///   - gates: `[rows, 4 · hiddenCount]`.
///   - previousCell: `[rows, hiddenCount]`; `cell` may be the same buffer (updated in place).
///   - hidden: receives `h`, `[rows, hiddenCount]`.
///   - cell: receives `c`, `[rows, hiddenCount]`.
///   - rows: the number of independent rows (sequences, or tensors in VeLO).
///   - hiddenCount: the hidden size `H`.
/// - Complexity: O(rows · hiddenCount); allocates nothing.
public func lstmCellForward(
  gates: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
  hidden: UnsafeMutablePointer<Float>, cell: UnsafeMutablePointer<Float>,
  rows: Int, hiddenCount: Int
) {
  let n = hiddenCount
  for r in 0..<rows {
    let z = gates + r * 4 * n
    let (cPrev, c, h) = (previousCell + r * n, cell + r * n, hidden + r * n)
    for j in 0..<n {
      let input = Activation.sigmoid(z[j])
      let candidate = Foundation.tanh(z[n + j])
      let forget = Activation.sigmoid(z[2 * n + j] + 1)
      let output = Activation.sigmoid(z[3 * n + j])
      c[j] = forget * cPrev[j] + input * candidate
      h[j] = output * Foundation.tanh(c[j])
    }
  }
}

/// An LSTM (``lstmCellForward(gates:previousCell:hidden:cell:rows:hiddenCount:)``) unrolled over
/// `x: [batch, time, in]`, returning every hidden state `[batch, time, hidden]`, with a
/// learnable initial state shared by all rows and backpropagation through time.
///
/// Per step `z_t = x_t · W_x + h_{t−1} · W_h + b`, where `W_x` and `W_h` are the first `in`
/// and last `hidden` rows of `W: [in + hidden, 4 · hidden]`. The per-step gates and states are
/// kept in time-major scratch for the backward pass.
public struct LSTMOperation: GraphOperation {
  /// The input sequence `[batch, time, in]`.
  public let input: GraphValue
  /// The gate weights `[in + hidden, 4 · hidden]` (rows for `x` first, then for `h`).
  public let weight: GraphParameter
  /// The gate bias `[4 · hidden]`.
  public let bias: GraphParameter
  /// The initial hidden state `[hidden]`, broadcast over the batch.
  public let initialHidden: GraphParameter
  /// The initial cell state `[hidden]`, broadcast over the batch.
  public let initialCell: GraphParameter
  /// Scratch `[time, batch, 4 · hidden]`: gate pre-activations; backward overwrites them with
  /// their gradients.
  public let gates: GraphValue
  /// Scratch `[time + 1, batch, hidden]`: `h_{t−1}` at index `t` (the initial state first).
  public let hiddenStates: GraphValue
  /// Scratch `[time + 1, batch, hidden]`: `c_{t−1}` at index `t` (the initial state first).
  public let cellStates: GraphValue
  /// Scratch `[2, batch, hidden]`: the hidden and cell gradients carried back one step.
  public let carriedGradients: GraphValue
  /// Every hidden state `[batch, time, hidden]`.
  public let output: GraphValue

  private var batch: Int { input.shape[0] }
  private var time: Int { input.shape[1] }
  private var inputCount: Int { input.shape[2] }
  private var hiddenCount: Int { initialHidden.count }

  /// Forward: per step two GEMMs into the gates, the bias, then the cell kernel.
  public func forward(_ context: GraphContext) {
    let (batch, time, m, n) = (self.batch, self.time, inputCount, hiddenCount)
    let x = context.pointer(input)
    let w = context.pointer(weight)
    let b = context.pointer(bias)
    let z = context.pointer(gates)
    let hs = context.pointer(hiddenStates)
    let cs = context.pointer(cellStates)
    let y = context.pointer(output)
    for row in 0..<batch {
      (hs + row * n).update(from: context.pointer(initialHidden), count: n)
      (cs + row * n).update(from: context.pointer(initialCell), count: n)
    }
    for t in 0..<time {
      let zt = z + t * batch * 4 * n
      let (hPrev, cPrev) = (hs + t * batch * n, cs + t * batch * n)
      BLAS.gemm(m: batch, n: 4 * n, k: m, a: x + t * m, lda: time * m, b: w, c: zt)
      BLAS.gemm(m: batch, n: 4 * n, k: n, a: hPrev, b: w + m * 4 * n, beta: 1, c: zt)
      for row in 0..<batch { accumulate(b, into: zt + row * 4 * n, count: 4 * n) }
      let (h, c) = (hPrev + batch * n, cPrev + batch * n)
      lstmCellForward(
        gates: zt, previousCell: cPrev, hidden: h, cell: c, rows: batch, hiddenCount: n)
      for row in 0..<batch { (y + (row * time + t) * n).update(from: h + row * n, count: n) }
    }
  }

  /// Backward through time: per step from the last, the gate gradients `dz_t` (written over
  /// the gates), `dh_{t−1} = dz_t · W_hᵀ`, `dc_{t−1} = dc_t ⊙ σ(f_t + 1)`, `dx_t += dz_t · W_xᵀ`
  /// and `dW_x += x_tᵀ · dz_t`; then `dW_h += Σ_t h_{t−1}ᵀ · dz_t` and `db += Σ dz` in one pass
  /// each, and the carried gradients summed over rows into the initial state.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let (batch, time, m, n) = (self.batch, self.time, inputCount, hiddenCount)
    let x = context.pointer(input)
    let dx = context.gradient(input)
    let w = context.pointer(weight)
    let z = context.pointer(gates)
    let hs = context.pointer(hiddenStates)
    let cs = context.pointer(cellStates)
    let dh = context.pointer(carriedGradients)
    let dc = dh + batch * n
    dh.update(repeating: 0, count: 2 * batch * n)
    for t in (0..<time).reversed() {
      let zt = z + t * batch * 4 * n
      for row in 0..<batch { accumulate(dy + (row * time + t) * n, into: dh + row * n, count: n) }
      Self.cellBackward(
        gates: zt, previousCell: cs + t * batch * n, cell: cs + (t + 1) * batch * n,
        hiddenGradient: dh, cellGradient: dc, rows: batch, hiddenCount: n)
      BLAS.gemm(
        transposeB: true, m: batch, n: n, k: 4 * n, a: zt, b: w + m * 4 * n, c: dh)
      if let dx {
        BLAS.gemm(
          transposeB: true, m: batch, n: m, k: 4 * n,
          a: zt, b: w, beta: 1, c: dx + t * m, ldc: time * m)
      }
      if let dw = context.gradient(weight) {
        BLAS.gemm(
          transposeA: true, m: m, n: 4 * n, k: batch,
          a: x + t * m, lda: time * m, b: zt, beta: 1, c: dw)
      }
    }
    if let dw = context.gradient(weight) {
      BLAS.gemm(
        transposeA: true, m: n, n: 4 * n, k: time * batch,
        a: hs, b: z, beta: 1, c: dw + m * 4 * n)
    }
    if let db = context.gradient(bias) {
      for row in 0..<(time * batch) { accumulate(z + row * 4 * n, into: db, count: 4 * n) }
    }
    sumRows(dh, into: context.gradient(initialHidden))
    sumRows(dc, into: context.gradient(initialCell))
  }

  /// `state[j] += Σ_rows gradient[row, j]`: the gradient of a state broadcast over the batch.
  private func sumRows(
    _ gradient: UnsafePointer<Float>, into state: UnsafeMutablePointer<Float>?
  ) {
    guard let state else { return }
    let n = hiddenCount
    for row in 0..<batch { accumulate(gradient + row * n, into: state, count: n) }
  }

  /// One step back through the cell: given `hiddenGradient` (∂L/∂h) and `cellGradient`
  /// (∂L/∂c from later steps), overwrites `gates` with ∂L/∂z and `cellGradient` with
  /// ∂L/∂c_prev.
  private static func cellBackward(
    gates: UnsafeMutablePointer<Float>, previousCell: UnsafePointer<Float>,
    cell: UnsafePointer<Float>, hiddenGradient: UnsafePointer<Float>,
    cellGradient: UnsafeMutablePointer<Float>, rows: Int, hiddenCount: Int
  ) {
    let n = hiddenCount
    for r in 0..<rows {
      let z = gates + r * 4 * n
      let (cPrev, c) = (previousCell + r * n, cell + r * n)
      let (dh, dc) = (hiddenGradient + r * n, cellGradient + r * n)
      for j in 0..<n {
        let input = Activation.sigmoid(z[j])
        let candidate = Foundation.tanh(z[n + j])
        let forget = Activation.sigmoid(z[2 * n + j] + 1)
        let output = Activation.sigmoid(z[3 * n + j])
        let tanhCell = Foundation.tanh(c[j])
        let dCell = dc[j] + dh[j] * output * (1 - tanhCell * tanhCell)
        z[j] = dCell * candidate * input * (1 - input)
        z[n + j] = dCell * input * (1 - candidate * candidate)
        z[2 * n + j] = dCell * cPrev[j] * forget * (1 - forget)
        z[3 * n + j] = dh[j] * tanhCell * output * (1 - output)
        dc[j] = dCell * forget
      }
    }
  }
}

extension GraphBuilder {
  /// Appends an LSTM (``LSTMOperation``: Haiku semantics, gate order (i, g, f, o), forget
  /// bias +1) with a learnable initial state.
  ///
  /// Parameters: `name/w` `[in + hiddenCount, 4 · hiddenCount]`, `name/b` (zeros), and
  /// `name/initial_hidden`, `name/initial_cell` `[hiddenCount]` (zeros).
  ///
  /// - Parameters:
  ///   - x: the sequence `[batch, time, in]`.
  ///   - hiddenCount: the hidden size.
  ///   - name: the prefix of the parameter names.
  ///   - weightInitializer: `nil` gives Haiku's default, a ±2σ truncated normal with
  ///     `σ = 1 / √(in + hiddenCount)`.
  /// - Returns: every hidden state, `[batch, time, hiddenCount]`.
  public mutating func lstm(
    _ x: GraphValue, hiddenCount: Int, name: String, weightInitializer: Initializer? = nil
  ) -> GraphValue {
    guard check(x.shape.count == 3, "an LSTM needs [batch, time, in], got \(x.shape)") else {
      return makeValue(shape: [1])
    }
    let (batch, time, inputCount) = (x.shape[0], x.shape[1], x.shape[2])
    let fanIn = inputCount + hiddenCount
    let weight = parameter(
      "\(name)/w", shape: [fanIn, 4 * hiddenCount],
      initializer: weightInitializer
        ?? .truncatedNormal(standardDeviation: 1 / Float(fanIn).squareRoot()))
    let bias = parameter("\(name)/b", shape: [4 * hiddenCount], initializer: .zeros)
    let initialHidden = parameter(
      "\(name)/initial_hidden", shape: [hiddenCount], initializer: .zeros)
    let initialCell = parameter("\(name)/initial_cell", shape: [hiddenCount], initializer: .zeros)
    let output = makeValue(shape: [batch, time, hiddenCount])
    append(
      LSTMOperation(
        input: x, weight: weight, bias: bias, initialHidden: initialHidden,
        initialCell: initialCell,
        gates: makeValue(shape: [time, batch, 4 * hiddenCount], hasGradient: false),
        hiddenStates: makeValue(shape: [time + 1, batch, hiddenCount], hasGradient: false),
        cellStates: makeValue(shape: [time + 1, batch, hiddenCount], hasGradient: false),
        carriedGradients: makeValue(shape: [2, batch, hiddenCount], hasGradient: false),
        output: output))
    return output
  }
}
