import LoptCore

/// The random streams of a meta-training run, each a pure function of the run's seed and the
/// indices named, so any process can regenerate any of them (docs/meta-training-method.md §2.6).
public struct MetaRandomness: Sendable {
  /// The run's root key.
  public let key: RandomKey

  /// The streams of the run seeded with `seed`.
  public init(seed: UInt64) { key = RandomKey(seed: seed) }

  /// ε of lane `lane` for the perturbation drawn at outer step `step`.
  public func noise(step: Int, lane: Int) -> RandomKey {
    key.folding(in: 1).folding(in: UInt64(step)).folding(in: UInt64(lane))
  }

  /// The task sample, initial parameters and data of the episode lane `lane` starts at `step`.
  public func episode(step: Int, lane: Int) -> RandomKey {
    key.folding(in: 2).folding(in: UInt64(step)).folding(in: UInt64(lane))
  }

  /// The length of an episode started at `step` (`lane` nil: shared by all lanes).
  public func length(step: Int, lane: Int?) -> RandomKey {
    let stepKey = key.folding(in: 3).folding(in: UInt64(step))
    return lane.map { stepKey.folding(in: UInt64($0) + 1) } ?? stepKey
  }

  /// Whether family slot `slot` is resampled at `step`, and which family it then gets.
  public func family(slot: Int, step: Int) -> RandomKey {
    key.folding(in: 4).folding(in: UInt64(slot)).folding(in: UInt64(step))
  }
}
