import Foundation
import LoptCore

/// A reparameterised Gaussian sample: `y = μ + exp(log σ) · ε` with `ε ~ N(0, 1)`.
///
/// `ε` is element `i` of the normal stream of `context.key.folding(in: salt)`, so it is fixed
/// for a given step key (the same in the forward and backward pass and in repeated forwards)
/// and kept in scratch for the backward pass. This is the VAE's reparameterisation trick.
public struct GaussianSampleOperation: GraphOperation {
  /// The mean `μ`.
  public let mean: GraphValue
  /// The log standard deviation `log σ`, same shape.
  public let logStandardDeviation: GraphValue
  /// Scratch: the standard normal draws `ε`.
  public let noise: GraphValue
  /// The sample, same shape.
  public let output: GraphValue
  /// What this op folds into the step key (fixed at build time, unique within the graph).
  public let salt: UInt64

  /// Forward: draws `ε`, then `y = μ + exp(log σ) · ε`.
  public func forward(_ context: GraphContext) {
    let mu = context.pointer(mean)
    let logSigma = context.pointer(logStandardDeviation)
    let epsilon = context.pointer(noise)
    let y = context.pointer(output)
    let key = context.key.folding(in: salt)
    for i in 0..<output.count {
      epsilon[i] = key.normal(at: i)
      y[i] = mu[i] + Foundation.exp(logSigma[i]) * epsilon[i]
    }
  }

  /// Backward: `dμ += dy`, `d log σ += dy · exp(log σ) · ε`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    if let dMu = context.gradient(mean) { accumulate(dy, into: dMu, count: output.count) }
    if let dLogSigma = context.gradient(logStandardDeviation) {
      let logSigma = context.pointer(logStandardDeviation)
      let epsilon = context.pointer(noise)
      for i in 0..<output.count {
        dLogSigma[i] += dy[i] * Foundation.exp(logSigma[i]) * epsilon[i]
      }
    }
  }
}

extension GraphBuilder {
  /// Appends a sample `mean + exp(logStandardDeviation) · ε`, `ε ~ N(0, 1)` drawn from the
  /// step's key (deterministic for a given key); both arguments receive gradients.
  public mutating func gaussianSample(
    mean: GraphValue, logStandardDeviation: GraphValue
  ) -> GraphValue {
    guard
      check(
        mean.shape == logStandardDeviation.shape,
        "mean \(mean.shape) and log standard deviation \(logStandardDeviation.shape) differ")
    else { return makeValue(shape: [1]) }
    let noise = makeValue(shape: mean.shape, hasGradient: false)
    let output = makeValue(shape: mean.shape)
    append(
      GaussianSampleOperation(
        mean: mean, logStandardDeviation: logStandardDeviation, noise: noise, output: output,
        salt: UInt64(output.offset)))
    return output
  }
}
