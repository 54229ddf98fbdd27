import LoptCore

/// Random-direction subsampled gradients (docs/meta-training-method.md §8,
/// `SubsampleDirectionsTaskGradient`).
///
/// ```
/// g ← Σⱼ aⱼ uⱼ,   aⱼ = ⟨g, uⱼ⟩  (or sign⟨g, uⱼ⟩),   j = 1…K
/// ```
/// with `uⱼ` Gaussian over all parameters, scaled to unit global norm; `uⱼ` of step `s` is
/// ``direction(_:step:into:)``. Costs O(K · parameters) per step.
public final class SubsampledGradientTask: TaskWrapper {
  /// The number of directions `K`.
  public let directions: Int
  /// Whether only the sign of each projection is kept.
  public let usesSign: Bool
  private let key: RandomKey
  private var direction: ParameterSet
  private var sum: ParameterSet

  /// Wraps `inner`.
  public init(_ inner: any TrainingTask, directions: Int, usesSign: Bool, key: RandomKey) {
    precondition(directions > 0, "at least one direction is needed")
    self.directions = directions
    self.usesSign = usesSign
    self.key = key
    direction = ParameterSet(layout: inner.layout)
    sum = ParameterSet(layout: inner.layout)
    super.init(inner)
  }

  /// Writes the unit direction `u_index` of `step` into `buffer`.
  public func direction(_ index: Int, step: Int, into buffer: UnsafeMutableBufferPointer<Float>) {
    key.folding(in: UInt64(step)).folding(in: UInt64(index)).fillNormal(buffer)
    var norm: Double = 0
    for i in 0..<buffer.count { norm += Double(buffer[i]) * Double(buffer[i]) }
    let inverse = Float(1 / norm.squareRoot())
    for i in 0..<buffer.count { buffer[i] *= inverse }
  }

  /// The inner loss and the gradient projected on `K` random directions.
  public override func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    let loss = inner.lossAndGradient(parameters, step: step, into: &gradients)
    sum.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    for j in 0..<directions {
      direction.withUnsafeMutableBufferPointer { self.direction(j, step: step, into: $0) }
      direction.withUnsafeBufferPointer { u in
        gradients.withUnsafeBufferPointer { g in
          sum.withUnsafeMutableBufferPointer { s in
            var dot: Double = 0
            for i in 0..<u.count { dot += Double(g[i]) * Double(u[i]) }
            let a = usesSign ? Float(dot > 0 ? 1 : dot < 0 ? -1 : 0) : Float(dot)
            for i in 0..<u.count { s[i] += a * u[i] }
          }
        }
      }
    }
    sum.withUnsafeBufferPointer { s in
      gradients.withUnsafeMutableBufferPointer { g in
        g.baseAddress!.update(from: s.baseAddress!, count: g.count)
      }
    }
    return loss
  }
}
