/// Which task augmentations (docs/meta-training-method.md §8) wrap a task, with their settings;
/// every field is off when `nil`.
///
/// The builder applies them in VeLO's order: reparameterisation, ES gradient, reduced batch
/// size, bfloat16, gradient normalisation, subsampled directions, stale gradients.
public struct AugmentationSpec: Codable, Hashable, Sendable {
  /// How many scales a weight reparameterisation draws.
  public enum ReparameterizationLevel: String, Codable, CaseIterable, Sendable {
    /// One scale for every parameter.
    case global
    /// One scale per tensor.
    case tensor
    /// One scale per element.
    case parameter
  }

  /// Weight reparameterisation: the task sees `w` and evaluates the model at `w ⊙ s`.
  public struct Reparameterization: Codable, Hashable, Sendable {
    /// How many scales.
    public var level: ReparameterizationLevel
    /// Each scale is `exp(U(ln low, ln high))`.
    public var low: Float
    /// The upper end of the scale range.
    public var high: Float

    /// Creates the setting.
    public init(level: ReparameterizationLevel, low: Float, high: Float) {
      self.level = level
      self.low = low
      self.high = high
    }
  }

  /// The antithetic ES gradient in place of the true one.
  public struct ESGradient: Codable, Hashable, Sendable {
    /// The perturbation standard deviation σ.
    public var standardDeviation: Float
    /// Antithetic pairs per step.
    public var pairs: Int

    /// Creates the setting.
    public init(standardDeviation: Float, pairs: Int) {
      self.standardDeviation = standardDeviation
      self.pairs = pairs
    }
  }

  /// The gradient projected on random directions.
  public struct SubsampledDirections: Codable, Hashable, Sendable {
    /// The number of directions `K`.
    public var count: Int
    /// Use only the sign of each projection.
    public var usesSign: Bool

    /// Creates the setting.
    public init(count: Int, usesSign: Bool) {
      self.count = count
      self.usesSign = usesSign
    }
  }

  /// Weight reparameterisation.
  public var reparameterization: Reparameterization?
  /// The ES-gradient task.
  public var esGradient: ESGradient?
  /// Train on the first `max(1, ⌊B · fraction⌋)` examples of each batch.
  public var batchFraction: Float?
  /// Round parameters, inputs, gradients and the loss to bfloat16 precision.
  public var usesBFloat16: Bool?
  /// Divide the gradient by its global norm.
  public var normalizesGradient: Bool?
  /// Random-direction subsampled gradient.
  public var subsampledDirections: SubsampledDirections?
  /// Stale gradients with this delay `d` (evaluated `max(1, d − 1)` steps back).
  public var gradientDelay: Int?

  /// No augmentation.
  public init() {}

  /// Whether no augmentation is set.
  public var isEmpty: Bool { self == AugmentationSpec() }
}
