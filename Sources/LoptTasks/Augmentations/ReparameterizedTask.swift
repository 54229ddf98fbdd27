import Foundation
import LoptCore
import LoptData

/// Weight reparameterisation (docs/meta-training-method.md §8, `ReparamWeights`): the task sees
/// parameters `w` and evaluates the inner model at `w ⊙ s`.
///
/// ```
/// L'(w) = L(w ⊙ s),   ∇L'(w) = s ⊙ ∇L(w ⊙ s),   w₀' = w₀ ⊘ s
/// ```
/// The function is unchanged; gradients scale by `s` and parameter magnitudes by `1/s`.
public final class ReparameterizedTask: TaskWrapper {
  /// The scales `s`, in the inner layout.
  public let scales: ParameterSet
  private var mapped: ParameterSet

  /// Wraps `inner` with explicit scales.
  public init(_ inner: any TrainingTask, scales: ParameterSet) {
    precondition(scales.layout == inner.layout, "the scales must have the task's layout")
    self.scales = scales
    mapped = scales.zerosLike()
    super.init(inner)
  }

  /// Wraps `inner` with scales drawn for `setting` from `key`.
  public convenience init(
    _ inner: any TrainingTask, setting: AugmentationSpec.Reparameterization, key: RandomKey
  ) {
    self.init(inner, scales: Self.scales(for: inner.layout, setting: setting, key: key))
  }

  /// Draws scales `exp(U(ln low, ln high))`: one for all parameters (`global`), one per tensor
  /// (`tensor`, tensor `i` from `key.folding(in: i)`), or one per element (`parameter`).
  public static func scales(
    for layout: ParameterLayout, setting: AugmentationSpec.Reparameterization, key: RandomKey
  ) -> ParameterSet {
    let (low, high) = (log(setting.low), log(setting.high))
    func draw(_ u: Float) -> Float { exp(low + (high - low) * u) }
    var scales = ParameterSet(layout: layout, repeating: draw(key.uniform(at: 0)))
    guard setting.level != .global else { return scales }
    for index in layout.entries.indices {
      let tensorKey = key.folding(in: UInt64(index))
      scales.withUnsafeMutableBufferPointer(ofTensor: index) { s in
        if setting.level == .tensor {
          s.update(repeating: draw(tensorKey.uniform(at: 0)))
        } else {
          for i in 0..<s.count { s[i] = draw(tensorKey.uniform(at: i)) }
        }
      }
    }
    return scales
  }

  /// The inner initial parameters divided by the scales.
  public override func initialParameters(key: RandomKey) -> ParameterSet {
    var parameters = inner.initialParameters(key: key)
    scales.withUnsafeBufferPointer { s in
      parameters.withUnsafeMutableBufferPointer { p in
        for i in 0..<p.count { p[i] /= s[i] }
      }
    }
    return parameters
  }

  /// The inner loss at `w ⊙ s` and its gradient times `s`.
  public override func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    map(parameters)
    let loss = inner.lossAndGradient(mapped, step: step, into: &gradients)
    scales.withUnsafeBufferPointer { s in
      gradients.withUnsafeMutableBufferPointer { g in
        for i in 0..<g.count { g[i] *= s[i] }
      }
    }
    return loss
  }

  /// The inner loss at `w ⊙ s`.
  public override func loss(_ parameters: ParameterSet, step: Int) -> Float {
    map(parameters)
    return inner.loss(mapped, step: step)
  }

  /// The inner evaluation at `w ⊙ s`.
  public override func evaluation(
    _ parameters: ParameterSet, split: DatasetSplit, batches: Int
  ) -> EvaluationMetrics {
    map(parameters)
    return inner.evaluation(mapped, split: split, batches: batches)
  }

  /// `mapped = parameters ⊙ scales`; allocates nothing.
  private func map(_ parameters: ParameterSet) {
    scales.withUnsafeBufferPointer { s in
      parameters.withUnsafeBufferPointer { p in
        mapped.withUnsafeMutableBufferPointer { m in
          for i in 0..<m.count { m[i] = p[i] * s[i] }
        }
      }
    }
  }
}
