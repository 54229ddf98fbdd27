import LoptCore

extension VeLO {
  /// Per-element intermediates of one step, for tests and diagnostics.
  ///
  /// Filled by ``VeLO/update(_:gradients:loss:state:trace:)``. Every array is per tensor in
  /// layout order; a scalar tensor counts as one element.
  public final class Trace {
    /// The 30 MLP inputs per element before normalisation, `[elements, 30]` row-major.
    public internal(set) var mlpInputsRaw: [[Float]]
    /// The 30 MLP inputs per element after `x · rsqrt(1e-5 + mean(x²))`, `[elements, 30]`.
    public internal(set) var mlpInputs: [[Float]]
    /// The MLP outputs per element, `[elements, 3]`: direction, magnitude, unused.
    public internal(set) var mlpOutputs: [[Float]]
    /// The step Δ per element (parameters after = before − Δ).
    public internal(set) var updates: [[Float]]

    /// Creates an empty trace sized for `layout`.
    public init(layout: ParameterLayout) {
      let counts = layout.entries.map(\.count)
      mlpInputsRaw = counts.map { [Float](repeating: 0, count: 30 * $0) }
      mlpInputs = mlpInputsRaw
      mlpOutputs = counts.map { [Float](repeating: 0, count: 3 * $0) }
      updates = counts.map { [Float](repeating: 0, count: $0) }
    }
  }
}
