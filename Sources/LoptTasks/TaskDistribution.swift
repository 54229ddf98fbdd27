import Foundation
import LoptCore

/// Why sampling from a distribution failed.
public struct TaskSamplingError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The family that never fit.
  public var family: TaskFamily
  /// The budget in seconds per step.
  public var budget: Double
  /// How many samples were tried.
  public var attempts: Int

  /// What happened.
  public var description: String {
    "no \(family.rawValue) sample in \(attempts) tries fits the budget of "
      + "\(budget) s per step; raise the budget or recalibrate (lopt tasks calibrate)"
  }
}

/// A named weighted mixture of task families with per-step compute budgets
/// (docs/meta-training-method.md §6.2), scaled to CPU budgets.
///
/// Sampling draws, each from its own key: a budget by weight; a family by weight among those
/// whose `minimumBudget` the budget reaches; a family member whose predicted step time fits
/// the budget (rejection, up to 512 tries, as VeLO does); and, with `augments`, augmentations.
public struct TaskDistribution: Codable, Hashable, Sendable {
  /// One budget choice.
  public struct Budget: Codable, Hashable, Sendable {
    /// Seconds per training step.
    public var seconds: Double
    /// Relative weight.
    public var weight: Double

    /// Creates a budget choice.
    public init(seconds: Double, weight: Double) {
      self.seconds = seconds
      self.weight = weight
    }
  }

  /// One family of the mixture.
  public struct Member: Codable, Hashable, Sendable {
    /// The family.
    public var family: TaskFamily
    /// Relative weight.
    public var weight: Double
    /// The family is drawn only when the budget is at least this (seconds per step).
    public var minimumBudget: Double

    /// Creates a member.
    public init(family: TaskFamily, weight: Double = 1, minimumBudget: Double = 0) {
      self.family = family
      self.weight = weight
      self.minimumBudget = minimumBudget
    }
  }

  /// The distribution's name.
  public var name: String
  /// The budget choices.
  public var budgets: [Budget]
  /// The families.
  public var members: [Member]
  /// Whether samples get VeLO's augmentations.
  public var augments: Bool

  /// Creates a distribution.
  public init(name: String, budgets: [Budget], members: [Member], augments: Bool) {
    self.name = name
    self.budgets = budgets
    self.members = members
    self.augments = augments
  }

  /// Reads a distribution from JSON, rejecting unknown keys.
  ///
  /// - Throws: ``TaskSpecError`` naming the offending field.
  public init(json: Data) throws {
    self = try StrictJSON.decode(TaskDistribution.self, from: json)
    guard !budgets.isEmpty, !members.isEmpty else {
      throw TaskSpecError.missingField(budgets.isEmpty ? "budgets" : "members")
    }
  }

  /// VeLO's phase-one and phase-two mixtures with CPU budgets.
  ///
  /// VeLO's TPU budgets {2e−5, 1e−4, 4e−4, 1e−3} s (phase one) and {1e−4, 4e−4, 1e−3, 3e−3} s
  /// (phase two) become {1e−4, 5e−4, 2e−3, 5e−3} s and {5e−4, 2e−3, 5e−3, 1.5e−2} s per step
  /// here; the language models and ResNet need the second tier, as VeLO's need ≥ 1e−4 s.
  public static let builtIn: [String: TaskDistribution] = {
    let basic: [TaskFamily] = [.imageMLP, .imageConv, .mlpAutoencoder, .mlpVAE, .vit]
    func members(_ tier: Double) -> [Member] {
      basic.map { Member(family: $0) }
        + [TaskFamily.lstmLM, .transformerLM, .resnet].map {
          Member(family: $0, minimumBudget: tier)
        }
    }
    return [
      "phase-one": TaskDistribution(
        name: "phase-one",
        budgets: zip([1e-4, 5e-4, 2e-3, 5e-3], [0.65, 0.3, 0.1, 0.05]).map(Budget.init),
        members: members(5e-4), augments: true),
      "phase-two": TaskDistribution(
        name: "phase-two",
        budgets: zip([5e-4, 2e-3, 5e-3, 1.5e-2], [0.4, 0.2, 0.2, 0.2]).map(Budget.init),
        members: members(5e-4), augments: true),
    ]
  }()

  /// Draws a task spec (see the type's description).
  ///
  /// - Throws: ``TaskSamplingError`` when no sample of the drawn family fits its budget.
  public func sample(key: RandomKey, costModel: CostModel = .default) throws -> TaskSpec {
    let (budget, family) = sampleFamily(key: key)
    return try family.sample(
      key: key.folding(in: 1), budget: budget, costModel: costModel, augments: augments)
  }

  /// The first two draws of ``sample(key:costModel:)``: a budget by weight, then a family by
  /// weight among those the budget allows.
  public func sampleFamily(key: RandomKey) -> (budget: Double, family: TaskFamily) {
    var r = SpecRandom(key: key)
    let budget = budgets[Self.weightedIndex(budgets.map(\.weight), r.uniform())].seconds
    let allowed = members.filter { $0.minimumBudget <= budget }
    precondition(!allowed.isEmpty, "no family of \(name) is allowed at a budget of \(budget) s")
    return (budget, allowed[Self.weightedIndex(allowed.map(\.weight), r.uniform())].family)
  }

  private static func weightedIndex(_ weights: [Double], _ u: Double) -> Int {
    let total = weights.reduce(0, +)
    var cumulative = 0.0
    for (index, weight) in weights.enumerated() {
      cumulative += weight / total
      if u < cumulative { return index }
    }
    return weights.count - 1
  }
}

extension TaskFamily {
  /// Draws members (with VeLO's augmentations when `augments`) until one's predicted step time
  /// is within `budget` seconds: attempt `k` uses `key.folding(in: k)`.
  ///
  /// - Throws: ``TaskSamplingError`` after 512 rejected samples.
  public func sample(
    key: RandomKey, budget: Double, costModel: CostModel = .default, augments: Bool = false
  ) throws -> TaskSpec {
    let attempts = 512
    for attempt in 0..<attempts {
      let attemptKey = key.folding(in: UInt64(attempt))
      var spec = sample(key: attemptKey)
      if augments { spec.augmentation = AugmentationSpec.sample(key: attemptKey.folding(in: 1)) }
      if let cost = try? spec.cost(), costModel.seconds(for: cost) <= budget { return spec }
    }
    throw TaskSamplingError(family: self, budget: budget, attempts: attempts)
  }
}
