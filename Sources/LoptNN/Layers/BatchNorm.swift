import CLoptShims

/// Batch normalisation over every axis but the last (channels), with running statistics for
/// evaluation (Ioffe & Szegedy, 2015).
///
/// ```
/// training:   μ, σ² = mean and (biased) variance of the batch per channel
///             running ← decay · running + (1 − decay) · batch      (for μ and σ²)
/// evaluation: μ, σ² = the running statistics
/// y = γ · (x − μ) / sqrt(σ² + ε) + β
/// ```
/// The backward pass is the training-mode one (gradients flow through the batch statistics);
/// ``Graph/lossAndGradient(_:into:key:)`` always runs in training mode.
public struct BatchNormOperation: GraphOperation {
  /// The input `[rows…, C]`.
  public let input: GraphValue
  /// The gain `γ` `[C]`.
  public let scale: GraphParameter
  /// The bias `β` `[C]`.
  public let offset: GraphParameter
  /// The running mean `[C]`, updated by every training-mode forward pass.
  public let runningMean: GraphState
  /// The running (biased) variance `[C]`, updated by every training-mode forward pass.
  public let runningVariance: GraphState
  /// Scratch `[4, C]`: the mean and `1 / sqrt(σ² + ε)` used by the last forward pass, then the
  /// per-channel sums of `dy` and `dy · x̂` of the backward pass.
  public let statistics: GraphValue
  /// The output, same shape as the input.
  public let output: GraphValue
  /// The `ε` added to the variance.
  public let epsilon: Float
  /// The running statistics' decay.
  public let decay: Float

  private var channels: Int { scale.count }
  private var rows: Int { input.count / channels }

  /// Forward: batch statistics (and a running-statistics update) in training mode, the running
  /// statistics otherwise; then the per-channel affine normalisation.
  public func forward(_ context: GraphContext) {
    let (channels, rows) = (self.channels, self.rows)
    let x = context.pointer(input)
    let mean = context.pointer(statistics)
    let rstd = mean + channels
    if context.isTraining {
      let runMean = context.pointer(runningMean)
      let runVariance = context.pointer(runningVariance)
      let inverseRows = 1 / Float(rows)
      mean.update(repeating: 0, count: 2 * channels)
      accumulateRowSum(x, rows: rows, width: channels, scale: inverseRows, into: mean)
      for row in 0..<rows {
        let xRow = x + row * channels
        for c in 0..<channels { rstd[c] += (xRow[c] - mean[c]) * (xRow[c] - mean[c]) }
      }
      for c in 0..<channels {
        let variance = rstd[c] * inverseRows
        runMean[c] = decay * runMean[c] + (1 - decay) * mean[c]
        runVariance[c] = decay * runVariance[c] + (1 - decay) * variance
        rstd[c] = lopt_rsqrtf(variance + epsilon)
      }
    } else {
      mean.update(from: context.pointer(runningMean), count: channels)
      let runVariance = context.pointer(runningVariance)
      for c in 0..<channels { rstd[c] = lopt_rsqrtf(runVariance[c] + epsilon) }
    }
    let y = context.pointer(output)
    let gamma = context.pointer(scale)
    let beta = context.pointer(offset)
    for row in 0..<rows {
      let xRow = x + row * channels
      let yRow = y + row * channels
      for c in 0..<channels { yRow[c] = (xRow[c] - mean[c]) * rstd[c] * gamma[c] + beta[c] }
    }
  }

  /// Backward (training mode): with `N` rows per channel,
  /// `dx += γ · rstd · (dy − Σdy / N − x̂ · Σ(dy · x̂) / N)`, `dγ += Σ dy · x̂`, `dβ += Σ dy`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let (channels, rows) = (self.channels, self.rows)
    let x = context.pointer(input)
    let mean = context.pointer(statistics)
    let rstd = mean + channels
    let dySum = mean + 2 * channels
    let dyXHatSum = mean + 3 * channels
    dySum.update(repeating: 0, count: 2 * channels)
    for row in 0..<rows {
      let xRow = x + row * channels
      let dyRow = dy + row * channels
      for c in 0..<channels {
        dySum[c] += dyRow[c]
        dyXHatSum[c] += dyRow[c] * (xRow[c] - mean[c]) * rstd[c]
      }
    }
    if let dGamma = context.gradient(scale) { accumulate(dyXHatSum, into: dGamma, count: channels) }
    if let dBeta = context.gradient(offset) { accumulate(dySum, into: dBeta, count: channels) }
    guard let dx = context.gradient(input) else { return }
    let gamma = context.pointer(scale)
    let inverseRows = 1 / Float(rows)
    for row in 0..<rows {
      let xRow = x + row * channels
      let dyRow = dy + row * channels
      let dxRow = dx + row * channels
      for c in 0..<channels {
        let xHat = (xRow[c] - mean[c]) * rstd[c]
        dxRow[c] +=
          gamma[c] * rstd[c]
          * (dyRow[c] - dySum[c] * inverseRows - xHat * dyXHatSum[c] * inverseRows)
      }
    }
  }
}

extension GraphBuilder {
  /// Appends batch normalisation over every axis but the last, with parameters `name/scale`
  /// (`[C]`, initialised to 1) and `name/offset` (`[C]`, 0) and model state
  /// `name/running_mean` (`[C]`, 0) and `name/running_variance` (`[C]`, 1).
  ///
  /// - Parameters:
  ///   - input: the value `[rows…, C]` to normalise per channel.
  ///   - name: the prefix of the parameter and state names.
  ///   - epsilon: added to the variance.
  ///   - decay: the running statistics' decay per training-mode forward pass.
  /// - Returns: the normalised value, same shape.
  public mutating func batchNorm(
    _ input: GraphValue, name: String, epsilon: Float = 1e-5, decay: Float = 0.9
  ) -> GraphValue {
    let channels = input.shape.last!
    let scale = parameter("\(name)/scale", shape: [channels], initializer: .constant(1))
    let offset = parameter("\(name)/offset", shape: [channels], initializer: .zeros)
    let runningMean = state("\(name)/running_mean", shape: [channels], initialValue: 0)
    let runningVariance = state("\(name)/running_variance", shape: [channels], initialValue: 1)
    let statistics = makeValue(shape: [4, channels], hasGradient: false)
    let output = makeValue(shape: input.shape)
    append(
      BatchNormOperation(
        input: input, scale: scale, offset: offset, runningMean: runningMean,
        runningVariance: runningVariance, statistics: statistics, output: output,
        epsilon: epsilon, decay: decay))
    return output
  }
}
