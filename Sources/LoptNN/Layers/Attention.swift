import Foundation
import LoptCore

/// The core of causal multi-head attention: per (batch, head), `softmax(q·kᵀ/√k + mask)·v`.
///
/// Queries, keys and values are `[batch, time, heads · keySize]`, head `h` occupying columns
/// `h·keySize ..< (h+1)·keySize`. Position `t` attends to positions `s ≤ t`:
///
/// ```
/// P[b,h,t,s] = exp(S[t,s]) / Σ_{s′≤t} exp(S[t,s′]) for s ≤ t, else 0,
/// S = Q_bh · K_bhᵀ / √keySize,   out_bh = P_bh · V_bh
/// ```
///
/// Every product is one GEMM per (batch, head) that addresses the head's columns in place
/// through leading-dimension strides, so nothing is transposed or copied.
public struct CausalAttentionOperation: GraphOperation {
  /// Queries `[batch, time, heads · keySize]`.
  public let query: GraphValue
  /// Keys, same shape as `query`.
  public let key: GraphValue
  /// Values, same shape as `query`.
  public let value: GraphValue
  /// The number of heads.
  public let heads: Int
  /// Whether position `t` sees only positions `s ≤ t` (otherwise every position sees all).
  public let isCausal: Bool
  /// Scratch `[batch, heads, time, time]`: the attention probabilities, kept for backward.
  public let probabilities: GraphValue
  /// Scratch `[time, time]`: the probability gradient of one (batch, head) during backward.
  public let probabilityGradient: GraphValue
  /// The attended values, same shape as `query`.
  public let output: GraphValue

  private var batch: Int { query.shape[0] }
  private var time: Int { query.shape[1] }
  private var width: Int { query.shape[2] }
  private var keySize: Int { width / heads }
  private var scale: Float { 1 / Float(keySize).squareRoot() }

  /// Forward: scaled scores by GEMM, a masked row-wise softmax, then the weighted sum by GEMM.
  public func forward(_ context: GraphContext) {
    let (q, k, v) = (context.pointer(query), context.pointer(key), context.pointer(value))
    let y = context.pointer(output)
    let (t, w, d) = (time, width, keySize)
    for b in 0..<batch {
      for h in 0..<heads {
        let head = b * t * w + h * d
        let p = context.pointer(probabilities) + (b * heads + h) * t * t
        BLAS.gemm(
          transposeB: true, m: t, n: t, k: d, alpha: scale,
          a: q + head, lda: w, b: k + head, ldb: w, c: p)
        for row in 0..<t {
          Self.causalSoftmax(p + row * t, visible: isCausal ? row + 1 : t, count: t)
        }
        BLAS.gemm(m: t, n: d, k: t, a: p, b: v + head, ldb: w, c: y + head, ldc: w)
      }
    }
  }

  /// Backward, per (batch, head) with `dS = P ⊙ (dP − rowsum(P ⊙ dP))`:
  /// `dV += Pᵀ·dY`, `dP = dY·Vᵀ`, `dQ += dS·K/√k`, `dK += dSᵀ·Q/√k`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let (dq, dk, dv) = (context.gradient(query), context.gradient(key), context.gradient(value))
    if dq == nil && dk == nil && dv == nil { return }
    let (q, k, v) = (context.pointer(query), context.pointer(key), context.pointer(value))
    let dp = context.pointer(probabilityGradient)
    let (t, w, d) = (time, width, keySize)
    for b in 0..<batch {
      for h in 0..<heads {
        let head = b * t * w + h * d
        let p = context.pointer(probabilities) + (b * heads + h) * t * t
        if let dv {
          BLAS.gemm(
            transposeA: true, m: t, n: d, k: t,
            a: p, b: dy + head, ldb: w, beta: 1, c: dv + head, ldc: w)
        }
        guard dq != nil || dk != nil else { continue }
        BLAS.gemm(
          transposeB: true, m: t, n: t, k: d, a: dy + head, lda: w, b: v + head, ldb: w, c: dp)
        for row in 0..<t {
          let (pRow, dpRow) = (p + row * t, dp + row * t)
          var dot: Float = 0
          for s in 0..<(isCausal ? row + 1 : t) { dot += pRow[s] * dpRow[s] }
          for s in 0..<t { dpRow[s] = pRow[s] * (dpRow[s] - dot) }
        }
        if let dq {
          BLAS.gemm(
            m: t, n: d, k: t, alpha: scale,
            a: dp, b: k + head, ldb: w, beta: 1, c: dq + head, ldc: w)
        }
        if let dk {
          BLAS.gemm(
            transposeA: true, m: t, n: d, k: t, alpha: scale,
            a: dp, b: q + head, ldb: w, beta: 1, c: dk + head, ldc: w)
        }
      }
    }
  }

  /// Softmax in place over the first `visible` entries of a row; the rest of the row becomes 0.
  private static func causalSoftmax(_ row: UnsafeMutablePointer<Float>, visible: Int, count: Int) {
    var maximum = -Float.infinity
    for s in 0..<visible { maximum = max(maximum, row[s]) }
    var sum: Float = 0
    for s in 0..<visible {
      row[s] = Foundation.exp(row[s] - maximum)
      sum += row[s]
    }
    let inverse = 1 / sum
    for s in 0..<visible { row[s] *= inverse }
    for s in visible..<count { row[s] = 0 }
  }
}

extension GraphBuilder {
  /// Appends the causal attention core (``CausalAttentionOperation``) over per-head queries,
  /// keys and values.
  ///
  /// - Parameters:
  ///   - query: `[batch, time, heads · keySize]`.
  ///   - key: same shape as `query`.
  ///   - value: same shape as `query`.
  ///   - heads: the number of heads; must divide the last axis.
  ///   - isCausal: mask each position to earlier ones (false: full attention, as in a ViT).
  /// - Returns: the attended values, same shape as `query`.
  public mutating func causalAttention(
    query: GraphValue, key: GraphValue, value: GraphValue, heads: Int, isCausal: Bool = true
  ) -> GraphValue {
    guard
      check(
        query.shape.count == 3 && key.shape == query.shape && value.shape == query.shape,
        "attention needs equal [batch, time, width] shapes, got \(query.shape), \(key.shape), "
          + "\(value.shape)")
    else { return makeValue(shape: [1]) }
    guard
      check(
        heads > 0 && query.shape[2] % heads == 0,
        "width \(query.shape[2]) does not split into \(heads) heads")
    else { return makeValue(shape: [1]) }
    let (batch, time) = (query.shape[0], query.shape[1])
    let probabilities = makeValue(shape: [batch, heads, time, time], hasGradient: false)
    let probabilityGradient = makeValue(shape: [time, time], hasGradient: false)
    let output = makeValue(shape: query.shape)
    append(
      CausalAttentionOperation(
        query: query, key: key, value: value, heads: heads, isCausal: isCausal,
        probabilities: probabilities,
        probabilityGradient: probabilityGradient, output: output))
    return output
  }

  /// Appends causal multi-head self-attention (Haiku's `MultiHeadAttention` with a causal
  /// mask).
  ///
  /// ```
  /// q, k, v = x·W_q + b_q, x·W_k + b_k, x·W_v + b_v        each [batch, time, heads · keySize]
  /// out = causalAttention(q, k, v) · W_o + b_o             [batch, time, width]
  /// ```
  ///
  /// Parameters: `name/query/w` `[width, heads · keySize]` and `name/query/b`, likewise
  /// `name/key/…`, `name/value/…`, and `name/output/w` `[heads · keySize, width]`,
  /// `name/output/b`.
  ///
  /// - Parameters:
  ///   - x: the sequence `[batch, time, width]`.
  ///   - heads: the number of heads.
  ///   - keySize: the per-head size, independent of `width` (VeLO's LM transformer uses 32).
  ///   - name: the prefix of the parameter names.
  ///   - weightInitializer: for all four projections; biases start at zero.
  ///   - isCausal: mask each position to earlier ones (false: full attention).
  /// - Returns: `[batch, time, width]`.
  public mutating func causalSelfAttention(
    _ x: GraphValue, heads: Int, keySize: Int, name: String,
    weightInitializer: Initializer = .lecunNormal, isCausal: Bool = true
  ) -> GraphValue {
    guard check(x.shape.count == 3, "self-attention needs [batch, time, width], got \(x.shape)")
    else { return makeValue(shape: [1]) }
    let projected = heads * keySize
    let q = linear(
      x, outputCount: projected, name: "\(name)/query", weightInitializer: weightInitializer)
    let k = linear(
      x, outputCount: projected, name: "\(name)/key", weightInitializer: weightInitializer)
    let v = linear(
      x, outputCount: projected, name: "\(name)/value", weightInitializer: weightInitializer)
    let attended = causalAttention(
      query: q, key: k, value: v, heads: heads, isCausal: isCausal)
    return linear(
      attended, outputCount: x.shape[2], name: "\(name)/output",
      weightInitializer: weightInitializer)
  }
}
