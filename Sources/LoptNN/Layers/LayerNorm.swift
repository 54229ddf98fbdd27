import RealModule

/// Layer normalisation over the last axis with a learned gain and bias (Ba et al., 2016).
///
/// ```
/// μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ) / sqrt(σ² + ε),  y = γ · x̂ + β
/// ```
/// per row, as `hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)`.
public struct LayerNormOperation: GraphOperation {
  /// The input `[rows…, D]`.
  public let input: GraphValue
  /// The gain `γ` `[D]`.
  public let scale: GraphParameter
  /// The bias `β` `[D]`.
  public let offset: GraphParameter
  /// Scratch `[2, rows]`: each row's mean, then each row's `1 / sqrt(σ² + ε)`.
  public let statistics: GraphValue
  /// The output, same shape as the input.
  public let output: GraphValue
  /// The `ε` added to the variance.
  public let epsilon: Float

  private var width: Int { scale.count }
  private var rows: Int { input.count / width }

  /// Forward: two passes per row (mean, then variance of the deviations).
  public func forward(_ context: GraphContext) {
    let (width, rows) = (self.width, self.rows)
    let x = context.pointer(input)
    let y = context.pointer(output)
    let gamma = context.pointer(scale)
    let beta = context.pointer(offset)
    let mean = context.pointer(statistics)
    let rstd = mean + rows
    let inverseWidth = 1 / Float(width)
    for row in 0..<rows {
      let xRow = x + row * width
      let yRow = y + row * width
      var sum: Float = 0
      for j in 0..<width { sum = Relaxed.sum(sum, xRow[j]) }
      let mu = sum * inverseWidth
      var squares: Float = 0
      for j in 0..<width { squares = Relaxed.multiplyAdd(xRow[j] - mu, xRow[j] - mu, squares) }
      let r = 1 / (squares * inverseWidth + epsilon).squareRoot()
      (mean[row], rstd[row]) = (mu, r)
      for j in 0..<width { yRow[j] = (xRow[j] - mu) * r * gamma[j] + beta[j] }
    }
  }

  /// Backward: with `g = γ · dy`,
  /// `dx += rstd · (g − mean(g) − x̂ · mean(g · x̂))`, `dγ += dy · x̂`, `dβ += dy`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let (width, rows) = (self.width, self.rows)
    let x = context.pointer(input)
    let gamma = context.pointer(scale)
    let mean = context.pointer(statistics)
    let rstd = mean + rows
    let dx = context.gradient(input)
    let dGamma = context.gradient(scale)
    let dBeta = context.gradient(offset)
    let inverseWidth = 1 / Float(width)
    for row in 0..<rows {
      let xRow = x + row * width
      let dyRow = dy + row * width
      let (mu, r) = (mean[row], rstd[row])
      if let dGamma { for j in 0..<width { dGamma[j] += dyRow[j] * (xRow[j] - mu) * r } }
      if let dBeta { accumulate(dyRow, into: dBeta, count: width) }
      guard let dx else { continue }
      var gSum: Float = 0
      var gxSum: Float = 0
      for j in 0..<width {
        let g = gamma[j] * dyRow[j]
        gSum = Relaxed.sum(gSum, g)
        gxSum = Relaxed.multiplyAdd(g, (xRow[j] - mu) * r, gxSum)
      }
      let (gMean, gxMean) = (gSum * inverseWidth, gxSum * inverseWidth)
      let dxRow = dx + row * width
      for j in 0..<width {
        let xHat = (xRow[j] - mu) * r
        dxRow[j] += r * (gamma[j] * dyRow[j] - gMean - xHat * gxMean)
      }
    }
  }
}

extension GraphBuilder {
  /// Appends layer normalisation over the last axis with parameters `name/scale` (`[D]`,
  /// initialised to 1) and `name/offset` (`[D]`, initialised to 0).
  ///
  /// - Parameters:
  ///   - input: the value `[rows…, D]` to normalise.
  ///   - name: the prefix of the parameter names.
  ///   - epsilon: added to the variance; Haiku's default is 1e-5.
  /// - Returns: the normalised value, same shape.
  public mutating func layerNorm(
    _ input: GraphValue, name: String, epsilon: Float = 1e-5
  ) -> GraphValue {
    let width = input.shape.last!
    let scale = parameter("\(name)/scale", shape: [width], initializer: .constant(1))
    let offset = parameter("\(name)/offset", shape: [width], initializer: .zeros)
    let statistics = makeValue(shape: [2, input.count / width], hasGradient: false)
    let output = makeValue(shape: input.shape)
    append(
      LayerNormOperation(
        input: input, scale: scale, offset: offset, statistics: statistics, output: output,
        epsilon: epsilon))
    return output
  }
}
