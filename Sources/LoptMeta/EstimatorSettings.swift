/// The gradient estimators (docs/meta-training-method.md §2).
public enum EstimatorKind: String, Codable, CaseIterable, Sendable {
  /// Antithetic ES on full-length unrolls, fresh episodes every outer step (what VeLO used).
  case fullES = "full-es"
  /// Antithetic ES on truncations: both copies start from the carried + state.
  case truncatedES = "truncated-es"
  /// Persistent ES: unbiased on truncated unrolls through the accumulated perturbations.
  case pes
  /// Noise-reuse ES (Li et al. 2023): one perturbation per episode, reused on each truncation.
  case noiseReuseES = "nres"

  /// Whether lanes keep episodes across outer steps (everything but ``fullES``).
  public var isTruncated: Bool { self != .fullES }
}

/// What a lane's pair of unrolls is scored by (docs/meta-training-method.md §4.1).
public enum MetaObjective: String, Codable, CaseIterable, Sendable {
  /// The mean normalised loss on fresh batches after the unroll (VeLO's end-of-training loss).
  case lastRecompute = "last-recompute"
  /// The mean normalised training loss over the unroll's steps.
  case average
  /// The normalised training loss of the unroll's last step.
  case last
}

/// The settings of an ES gradient estimate.
public struct EstimatorSettings: Codable, Equatable, Sendable {
  /// Which estimator.
  public var kind: EstimatorKind
  /// σ: the perturbation is θ ± σε with ε ~ N(0, I).
  public var standardDeviation: Float
  /// Antithetic pairs (lanes) per outer step.
  public var pairs: Int
  /// With sign mode each pair's loss difference Δ becomes sign(Δ) (VeLO: on).
  public var usesSign: Bool
  /// The meta-objective.
  public var objective: MetaObjective
  /// Batches the `last-recompute` objective averages over (VeLO: 100).
  public var recomputeBatches: Int
  /// When set, loss differences are clipped to ±this before use.
  public var clipLossDifference: Float?
  /// Steps per outer step for the truncated estimators (VeLO's reference default: 20).
  public var unrollLength: Int
  /// Meta-parameters left out of meta-training, by name prefix (`residual` freezes every
  /// `residual.…` tensor): their ε is 0, so they keep their initial values.
  public var frozen: [String]

  /// Creates settings; the defaults are VeLO's FullES with a CPU-sized recompute.
  public init(
    kind: EstimatorKind = .fullES, standardDeviation: Float = 0.01, pairs: Int = 8,
    usesSign: Bool = true, objective: MetaObjective = .lastRecompute, recomputeBatches: Int = 20,
    clipLossDifference: Float? = nil, unrollLength: Int = 20, frozen: [String] = []
  ) {
    self.kind = kind
    self.standardDeviation = standardDeviation
    self.pairs = pairs
    self.usesSign = usesSign
    self.objective = objective
    self.recomputeBatches = recomputeBatches
    self.clipLossDifference = clipLossDifference
    self.unrollLength = unrollLength
    self.frozen = frozen
  }

  /// The problems with these settings, one sentence each; empty when they are usable.
  public var problems: [String] {
    var problems: [String] = []
    if !(standardDeviation > 0 && standardDeviation.isFinite) {
      problems.append("estimator.standardDeviation must be > 0 (got \(standardDeviation))")
    }
    if pairs < 1 { problems.append("estimator.pairs must be ≥ 1 (got \(pairs))") }
    if recomputeBatches < 1 {
      problems.append("estimator.recomputeBatches must be ≥ 1 (got \(recomputeBatches))")
    }
    if unrollLength < 1 {
      problems.append("estimator.unrollLength must be ≥ 1 (got \(unrollLength))")
    }
    if let clip = clipLossDifference, !(clip > 0) {
      problems.append("estimator.clipLossDifference must be > 0 (got \(clip))")
    }
    if kind.isTruncated && objective == .lastRecompute {
      problems.append(
        "estimator.objective last-recompute needs full unrolls (kind full-es); the truncated "
          + "estimators score each truncation by average or last")
    }
    return problems
  }

  /// The loss difference a pair contributes: 0 if not finite, clipped, then its sign in sign
  /// mode (docs/meta-training-method.md §2.5).
  public func processedDifference(plus: Float, minus: Float) -> Float {
    var difference = plus - minus
    guard difference.isFinite else { return 0 }
    if let clip = clipLossDifference { difference = min(max(difference, -clip), clip) }
    if usesSign { return difference > 0 ? 1 : (difference < 0 ? -1 : 0) }
    return difference
  }
}
