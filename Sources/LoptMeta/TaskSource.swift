import LoptCore
import LoptTasks

/// Where meta-training's inner tasks come from: a distribution over task families (VeLO's
/// phases) or a fixed list of task specs whose seeds (initialisation, data order, augmentation
/// draws) are resampled for every episode.
public enum TaskSource: Equatable, Sendable {
  /// Families drawn from a distribution; each episode samples a member that fits the budget.
  case distribution(TaskDistribution, CostModel)
  /// A list of specs; a family is one entry.
  case tasks([TaskSpec])

  /// Draws a family index.
  public func sampleFamily(key: RandomKey) -> Int {
    switch self {
    case .distribution(let distribution, _):
      let (budget, family) = distribution.sampleFamily(key: key)
      let budgetIndex = distribution.budgets.firstIndex { $0.seconds == budget }!
      return budgetIndex * TaskFamily.allCases.count + TaskFamily.allCases.firstIndex(of: family)!
    case .tasks(let specs):
      return min(Int(Float(specs.count) * key.uniform(at: 0)), specs.count - 1)
    }
  }

  /// A task of family `family` drawn with `key`.
  ///
  /// - Throws: `TaskSamplingError` when no member of the family fits its budget.
  public func spec(family: Int, key: RandomKey) throws -> TaskSpec {
    switch self {
    case .distribution(let distribution, let costModel):
      let count = TaskFamily.allCases.count
      return try TaskFamily.allCases[family % count].sample(
        key: key, budget: distribution.budgets[family / count].seconds, costModel: costModel,
        augments: distribution.augments)
    case .tasks(let specs):
      var spec = specs[family]
      spec.seed = key.rawValue
      return spec
    }
  }

  /// The predicted seconds per step of family `family` (a list entry's cost-model prediction;
  /// a distribution family's budget).
  public func predictedSeconds(family: Int) -> Double {
    switch self {
    case .distribution(let distribution, _):
      return distribution.budgets[family / TaskFamily.allCases.count].seconds
    case .tasks(let specs):
      return (try? specs[family].cost()).map { CostModel.default.seconds(for: $0) } ?? 1
    }
  }
}
