import LoptCore

/// bfloat16 emulation (docs/meta-training-method.md §8, `ConvertFloatDType`): parameters are
/// rounded to bfloat16 before the inner task sees them, and the loss and gradient after; the
/// builder also rounds the inputs (``AugmentationSpec/usesBFloat16``).
public final class BFloat16Task: TaskWrapper {
  private var rounded: ParameterSet

  /// Wraps `inner`.
  public override init(_ inner: any TrainingTask) {
    rounded = ParameterSet(layout: inner.layout)
    super.init(inner)
  }

  /// The inner loss and gradient at bfloat16-rounded parameters, both rounded.
  public override func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    round(parameters)
    let loss = inner.lossAndGradient(rounded, step: step, into: &gradients)
    gradients.withUnsafeMutableBufferPointer { roundToBFloat16($0) }
    return roundToBFloat16(loss)
  }

  /// The inner loss at bfloat16-rounded parameters, rounded.
  public override func loss(_ parameters: ParameterSet, step: Int) -> Float {
    round(parameters)
    return roundToBFloat16(inner.loss(rounded, step: step))
  }

  private func round(_ parameters: ParameterSet) {
    parameters.withUnsafeBufferPointer { p in
      rounded.withUnsafeMutableBufferPointer { r in
        for i in 0..<r.count { r[i] = roundToBFloat16(p[i]) }
      }
    }
  }
}
