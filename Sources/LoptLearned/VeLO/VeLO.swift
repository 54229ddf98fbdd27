import LoptCore
import LoptOptimizers

/// VeLO (HyperV2), the learned optimizer of Metz and co-authors (2022), as in the JAX reference.
///
/// One step (docs/velo.md §12): loss-buffer features (E4–E5), 30 features per tensor from the
/// *previous* accumulators (E6), a mixing layer with a max over tensors (E7), one LSTM step with
/// one row per tensor (E8), heads giving `P` controls and a learning-rate multiplier per tensor
/// (E9), the per-tensor MLP mixed from a bank of `P` MLPs (E10), 30 normalised features per
/// element from the *updated* accumulators (E11), the 30 → 4 → 4 → 3 MLP (E12) and
///
/// ```
/// Δ = λ · d · exp(expMult · a) · stepMult · sqrt(mean(p²) + 1e-9),   p ← p − Δ
/// ```
///
/// (E13–E14). Every quirk of §15 is reproduced so the released weights load.
///
/// Non-finite input guard: when the loss or any gradient element is NaN or infinite, the update
/// leaves the parameters and the state untouched and counts the step in
/// ``State/skippedUpdates`` (the reference has no guard and would poison its state).
public struct VeLO: LearnedOptimizer {
  /// The architecture: widths, decays and the reference's flags.
  public let configuration: Configuration
  /// The meta-parameters θ with the reference tree names (see ``metaParameterLayout(for:)``).
  ///
  /// Mutable in place (evolution strategies perturb the flat buffer); the layout must not
  /// change.
  public var metaParameters: ParameterSet
  /// Offsets of the tensors the step reads.
  let offsets: MetaOffsets

  /// Creates VeLO from an architecture and meta-parameters in ``metaParameterLayout(for:)``.
  ///
  /// - Throws: ``VeLOError`` when the configuration is unsupported or the layout does not match
  ///   it (naming the first mismatching tensor).
  public init(configuration: Configuration, metaParameters: ParameterSet) throws {
    try configuration.validate()
    let expected = Self.metaParameterLayout(for: configuration)
    if metaParameters.layout != expected {
      for entry in expected.entries {
        guard let found = metaParameters.layout.entry(named: entry.name) else {
          throw VeLOError.missingMetaParameter(name: entry.name)
        }
        if found.shape != entry.shape {
          throw VeLOError.metaParameterShape(
            name: entry.name, expected: entry.shape, found: found.shape)
        }
      }
      // Same names and shapes in another order: copy into the reference order.
      var reordered = ParameterSet(layout: expected)
      for entry in expected.entries { reordered[entry.name] = metaParameters[entry.name] }
      self.configuration = configuration
      self.metaParameters = reordered
      offsets = MetaOffsets(layout: expected)
      return
    }
    self.configuration = configuration
    self.metaParameters = metaParameters
    offsets = MetaOffsets(layout: expected)
  }

  /// Creates VeLO with freshly initialised meta-parameters (``initialMetaParameters(for:key:)``).
  ///
  /// - Precondition: the configuration is supported.
  public init(configuration: Configuration = Configuration(), key: RandomKey) {
    do {
      try self.init(
        configuration: configuration,
        metaParameters: Self.initialMetaParameters(for: configuration, key: key))
    } catch {
      preconditionFailure("\(error)")
    }
  }

  /// Allocates every buffer the updates use; `totalSteps` is VeLO's `num_steps` (≥ 1).
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    let h = configuration.lstmHiddenSize
    let (initialHidden, initialCell) = metaParameters.withUnsafeBufferPointer { theta in
      (
        Array(theta[offsets.initHidden..<(offsets.initHidden + h)]),
        Array(theta[offsets.initCell..<(offsets.initCell + h)])
      )
    }
    return State(
      configuration: configuration, layout: parameters.layout, totalSteps: totalSteps,
      initialHidden: initialHidden, initialCell: initialCell)
  }

  /// Applies one VeLO step in place (docs/velo.md §12).
  ///
  /// - Complexity: O(parameters + tensors · H²); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    step(&parameters, gradients: gradients, loss: loss, state: &state, trace: nil)
  }

  /// Applies one step like ``update(_:gradients:loss:state:)`` and records the per-element
  /// intermediates (MLP inputs before and after normalisation, MLP outputs, updates) in `trace`.
  ///
  /// For tests and diagnostics; the parameters are updated by the same fused kernel as
  /// ``update(_:gradients:loss:state:)``, so the result is bitwise the same.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State,
    trace: Trace
  ) {
    step(&parameters, gradients: gradients, loss: loss, state: &state, trace: trace)
  }
}

/// Why meta-parameters or a configuration cannot make a ``VeLO``.
public enum VeLOError: Error, CustomStringConvertible, Equatable {
  /// A meta-parameter tensor of the reference tree is absent.
  case missingMetaParameter(name: String)
  /// A meta-parameter tensor has the wrong shape.
  case metaParameterShape(name: String, expected: [Int], found: [Int])
  /// The configuration asks for something this implementation does not support.
  case unsupportedConfiguration(String)

  /// What is wrong, naming the tensor or setting.
  public var description: String {
    switch self {
    case .missingMetaParameter(let name):
      "VeLO meta-parameter '\(name)' is missing"
    case .metaParameterShape(let name, let expected, let found):
      "VeLO meta-parameter '\(name)' has shape \(found), expected \(expected)"
    case .unsupportedConfiguration(let message):
      "unsupported VeLO configuration: \(message)"
    }
  }
}
