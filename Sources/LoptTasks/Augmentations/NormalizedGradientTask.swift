import LoptCore

/// Gradient normalisation (docs/meta-training-method.md §8, `NormalizeTaskGradient`): the gradient
/// is divided by its global ℓ2 norm over all tensors (a zero gradient stays zero).
public final class NormalizedGradientTask: TaskWrapper {
  /// The inner loss and the unit-norm gradient.
  public override func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    let loss = inner.lossAndGradient(parameters, step: step, into: &gradients)
    gradients.withUnsafeMutableBufferPointer { g in
      var sum: Double = 0
      for i in 0..<g.count { sum += Double(g[i]) * Double(g[i]) }
      guard sum > 0 else { return }
      let inverse = Float(1 / sum.squareRoot())
      for i in 0..<g.count { g[i] *= inverse }
    }
    return loss
  }
}
