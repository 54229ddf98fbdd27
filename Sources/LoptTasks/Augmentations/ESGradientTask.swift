import LoptCore

/// The ES-gradient task (docs/meta-training-method.md §8, `es_wrapper.py`): the loss is unchanged,
/// the gradient is replaced by an antithetic evolution-strategies estimate on the same batch.
///
/// ```
/// ĝ = (1/n) Σⱼ εⱼ (L(θ + εⱼ) − L(θ − εⱼ)) / (2σ²),   εⱼ ~ N(0, σ² I)
/// ```
/// `εⱼ` of step `s` is the normal stream of `key.folding(in: s).folding(in: j)`.
public final class ESGradientTask: TaskWrapper {
  /// The perturbation standard deviation σ.
  public let standardDeviation: Float
  /// Antithetic pairs per step, `n`.
  public let pairs: Int
  private let key: RandomKey
  private var noise: ParameterSet
  private var perturbed: ParameterSet

  /// Wraps `inner`.
  public init(_ inner: any TrainingTask, standardDeviation: Float, pairs: Int, key: RandomKey) {
    precondition(standardDeviation > 0 && pairs > 0, "σ and the pair count must be positive")
    self.standardDeviation = standardDeviation
    self.pairs = pairs
    self.key = key
    noise = ParameterSet(layout: inner.layout)
    perturbed = ParameterSet(layout: inner.layout)
    super.init(inner)
  }

  /// The loss at `parameters` and the ES estimate of its gradient; `2n + 1` forward passes.
  public override func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    let loss = inner.loss(parameters, step: step)
    gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    let sigma = standardDeviation
    for pair in 0..<pairs {
      noise.withUnsafeMutableBufferPointer {
        key.folding(in: UInt64(step)).folding(in: UInt64(pair))
          .fillNormal($0, standardDeviation: sigma)
      }
      let plus = perturbedLoss(parameters, sign: 1, step: step)
      let minus = perturbedLoss(parameters, sign: -1, step: step)
      let weight = (plus - minus) / (2 * sigma * sigma * Float(pairs))
      noise.withUnsafeBufferPointer { e in
        gradients.withUnsafeMutableBufferPointer { g in
          for i in 0..<g.count { g[i] += weight * e[i] }
        }
      }
    }
    return loss
  }

  /// The inner loss at `parameters + sign · ε` on the batch of `step`.
  private func perturbedLoss(_ parameters: ParameterSet, sign: Float, step: Int) -> Float {
    parameters.withUnsafeBufferPointer { p in
      noise.withUnsafeBufferPointer { e in
        perturbed.withUnsafeMutableBufferPointer { q in
          for i in 0..<q.count { q[i] = p[i] + sign * e[i] }
        }
      }
    }
    return inner.loss(perturbed, step: step)
  }
}
