import Foundation

/// The KL divergence of a diagonal Gaussian from the standard normal (a VAE's analytic term).
///
/// Summed over latent dimensions and averaged over the batch (the first axis):
///
/// ```
/// loss = (1/B) Σ_{b,j} ½ (μ² + σ² − 1 − 2 ln σ)  = (1/B) Σ_b KL(N(μ_b, σ_b²) ‖ N(0, I))
/// ```
public struct GaussianKLOperation: GraphOperation {
  /// The means μ `[batch, latent…]`.
  public let mean: GraphValue
  /// The log standard deviations ln σ, same shape as `mean`.
  public let logStandardDeviation: GraphValue
  /// The scalar divergence.
  public let output: GraphValue

  private var batch: Int { mean.shape[0] }

  /// Forward: the sum in `Double`, divided by the batch.
  public func forward(_ context: GraphContext) {
    let (mu, logSigma) = (context.pointer(mean), context.pointer(logStandardDeviation))
    var total = 0.0
    for i in 0..<mean.count {
      let (m, s) = (Double(mu[i]), Double(logSigma[i]))
      total += 0.5 * (m * m + Foundation.exp(2 * s) - 1 - 2 * s)
    }
    context.pointer(output)[0] = Float(total / Double(batch))
  }

  /// Backward: `dμ += g·μ/B`, `d ln σ += g·(σ² − 1)/B`.
  public func backward(_ context: GraphContext) {
    guard let g = context.gradient(output)?[0] else { return }
    let (mu, logSigma) = (context.pointer(mean), context.pointer(logStandardDeviation))
    let (dMu, dLogSigma) = (context.gradient(mean), context.gradient(logStandardDeviation))
    let scale = g / Float(batch)
    for i in 0..<mean.count {
      dMu?[i] += scale * mu[i]
      dLogSigma?[i] += scale * (Foundation.exp(2 * logSigma[i]) - 1)
    }
  }
}

extension GraphBuilder {
  /// Appends the KL divergence from the standard normal (``GaussianKLOperation``).
  ///
  /// - Parameters:
  ///   - mean: μ `[batch, latent…]`.
  ///   - logStandardDeviation: ln σ, same shape as `mean`.
  /// - Returns: `(1/batch) Σ_b KL(N(μ_b, σ_b²) ‖ N(0, I))`, a scalar.
  public mutating func gaussianKL(
    mean: GraphValue, logStandardDeviation: GraphValue
  ) -> GraphValue {
    guard
      check(
        logStandardDeviation.shape == mean.shape,
        "mean \(mean.shape) and log σ \(logStandardDeviation.shape) must match")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: [1])
    append(
      GaussianKLOperation(mean: mean, logStandardDeviation: logStandardDeviation, output: output))
    return output
  }
}
