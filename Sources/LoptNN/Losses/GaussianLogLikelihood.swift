import Foundation

/// The negative Gaussian log-likelihood of `x` under `N(μ, σ²)`, per element.
///
/// The mean and log standard deviation are given per element; the result is summed over
/// features and averaged over the batch (the first axis):
///
/// ```
/// loss = (1/B) Σ_{b,f} [ ½ ln(2π) + ln σ + (x − μ)² / (2σ²) ]  = −(1/B) Σ ln N(x; μ, σ²)
/// ```
public struct GaussianLogLikelihoodOperation: GraphOperation {
  /// The observations `[batch, features…]`.
  public let x: GraphValue
  /// The means μ, same shape as `x`.
  public let mean: GraphValue
  /// The log standard deviations ln σ, same shape as `x`.
  public let logStandardDeviation: GraphValue
  /// The scalar loss (the negative log-likelihood).
  public let output: GraphValue

  /// `½ ln(2π)`.
  private static let halfLogTwoPi = 0.5 * Foundation.log(2 * Double.pi)

  private var batch: Int { x.shape[0] }

  /// Forward: the sum of per-element negative log densities in `Double`, divided by the batch.
  public func forward(_ context: GraphContext) {
    let (value, mu) = (context.pointer(x), context.pointer(mean))
    let logSigma = context.pointer(logStandardDeviation)
    var total = 0.0
    for i in 0..<x.count {
      let z = Double(value[i] - mu[i]) * Foundation.exp(-Double(logSigma[i]))
      total += Self.halfLogTwoPi + Double(logSigma[i]) + 0.5 * z * z
    }
    context.pointer(output)[0] = Float(total / Double(batch))
  }

  /// Backward, with `z = (x − μ)/σ`: `dx += g·z/(σB)`, `dμ −= g·z/(σB)`,
  /// `d ln σ += g·(1 − z²)/B`.
  public func backward(_ context: GraphContext) {
    guard let g = context.gradient(output)?[0] else { return }
    let (value, mu) = (context.pointer(x), context.pointer(mean))
    let logSigma = context.pointer(logStandardDeviation)
    let (dx, dMu) = (context.gradient(x), context.gradient(mean))
    let dLogSigma = context.gradient(logStandardDeviation)
    let scale = g / Float(batch)
    for i in 0..<x.count {
      let inverseSigma = Foundation.exp(-logSigma[i])
      let z = (value[i] - mu[i]) * inverseSigma
      dx?[i] += scale * z * inverseSigma
      dMu?[i] -= scale * z * inverseSigma
      dLogSigma?[i] += scale * (1 - z * z)
    }
  }
}

extension GraphBuilder {
  /// Appends the **negative** Gaussian log-likelihood (``GaussianLogLikelihoodOperation``).
  ///
  /// - Parameters:
  ///   - x: the observations `[batch, features…]`.
  ///   - mean: μ, same shape as `x`.
  ///   - logStandardDeviation: ln σ, same shape as `x`.
  /// - Returns: `−(1/batch) Σ ln N(x; μ, σ²)`, a scalar loss (lower is better).
  public mutating func gaussianLogLikelihood(
    _ x: GraphValue, mean: GraphValue, logStandardDeviation: GraphValue
  ) -> GraphValue {
    guard
      check(
        mean.shape == x.shape && logStandardDeviation.shape == x.shape,
        "x \(x.shape), mean \(mean.shape) and log σ \(logStandardDeviation.shape) must match")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: [1])
    append(
      GaussianLogLikelihoodOperation(
        x: x, mean: mean, logStandardDeviation: logStandardDeviation, output: output))
    return output
  }
}
