import LoptCore

/// The inner training problems a meta-parameter vector θ controls: what one ES lane unrolls.
///
/// An episode is one inner training run (a task sample, its initial parameters and the
/// optimizer state), advanced a few steps at a time under a ``Rule`` made from θ. The gradient
/// estimators only ever see the normalised per-step losses and the end-of-training loss, so the
/// same estimator code runs real learned-optimizer training and the small analytic problems the
/// tests use. An episode is used by one thread at a time; copies of an episode (the + and −
/// branches of an antithetic pair) evolve independently.
public protocol InnerProblem: Sendable {
  /// One inner run's state.
  associatedtype Episode
  /// θ made concrete (for example a learned optimizer built from it).
  associatedtype Rule: Sendable

  /// The layout of θ.
  var metaParameterLayout: ParameterLayout { get }

  /// Draws a task family (an index the problem understands) for a family slot.
  func sampleFamily(key: RandomKey) -> Int

  /// The relative cost of a step of an episode of family `family`, used only to hand the
  /// costliest lanes to threads first (results never depend on it).
  func relativeCost(family: Int) -> Double

  /// Makes the rule for meta-parameters `metaParameters` (θ, or θ perturbed).
  ///
  /// - Throws: when θ does not fit the rule's architecture.
  func rule(for metaParameters: ParameterSet) throws -> Rule

  /// Starts a new episode of `length` steps of task family `family`; everything random about
  /// it (task sample, initial parameters, data order) comes from `key`.
  ///
  /// - Throws: when the task cannot be built (missing data, a model that does not fit).
  func startEpisode(key: RandomKey, length: Int, family: Int) throws -> Episode

  /// Advances `episode` by `steps` steps under `rule`, appending each step's normalised loss
  /// to `losses`.
  ///
  /// - Returns: `false` as soon as a loss, gradient or parameter stops being finite (the
  ///   episode is then unusable and the losses incomplete).
  func advance(_ episode: inout Episode, rule: Rule, steps: Int, losses: inout [Float]) -> Bool

  /// The end-of-training objective at the episode's current parameters: the mean normalised
  /// loss over `batches` batches the unroll has not used (VeLO's `last_recompute`).
  func finalLoss(_ episode: inout Episode, batches: Int) -> Float
}

extension InnerProblem {
  /// Every family costs the same.
  public func relativeCost(family: Int) -> Double { 1 }
}
