import LoptCore
import LoptOptimizers
import LoptTestSupport
import Testing

@testable import LoptLearned

/// The optimizer conformance suite for the learned optimizers, with every state tensor's shape
/// written out from the optimizers' definitions.
///
/// MLPLOpt's, AdafacMLP's and VeLO's θ here is a random initialisation, so the quadratic
/// descent check is left out for them (the suite still checks that steps change the
/// parameters); the shipped ScheduledAdamLOpt must descend.
@Suite(.timeLimit(.minutes(1))) struct LearnedConformanceTests {
  /// The two largest axes of `shape` as `_factored_dims` picks them (stable arg-sort): d₁ the
  /// second largest, d₀ the largest; `nil` below rank 2.
  static func factoredAxes(_ shape: [Int]) -> (d1: Int, d0: Int)? {
    guard shape.count >= 2 else { return nil }
    let order = shape.indices.sorted { (shape[$0], $0) < (shape[$1], $1) }
    return (order[order.count - 2], order[order.count - 1])
  }

  static func removing(_ axis: Int, from shape: [Int]) -> [Int] {
    var shape = shape
    shape.remove(at: axis)
    return shape
  }

  @Test func mlpLOpt() throws {
    let configuration = MLPLOpt.Configuration()
    let optimizer = try MLPLOpt(
      configuration: configuration,
      metaParameters: MLPLOpt.initialMetaParameters(for: configuration, key: RandomKey(seed: 3)))
    let k = configuration.momentumDecays.count
    checkOptimizer(optimizer, steps: nil, perTensorShape: { _, shape in [k] + shape })
  }

  @Test func adafacMLP() throws {
    let configuration = AdafacMLP.Configuration()
    let optimizer = try AdafacMLP(
      configuration: configuration,
      metaParameters: AdafacMLP.initialMetaParameters(
        for: configuration, key: RandomKey(seed: 3)))
    let k = configuration.initialMomentumDecays.count
    checkOptimizer(
      optimizer, steps: nil,
      perTensorShape: { name, shape in
        let axes = Self.factoredAxes(shape)
        switch name.split(separator: "/").first ?? "" {
        case "momentum": return [k] + shape
        case "rms": return shape + [1]
        case "factored_rows": return [k] + (axes.map { Self.removing($0.d0, from: shape) } ?? [0])
        case "factored_columns":
          return [k] + (axes.map { Self.removing($0.d1, from: shape) } ?? [0])
        case "diagonal": return [k] + (axes == nil ? shape : [0])
        default: return [-1]  // an unknown per-tensor state: always a mismatch
        }
      })
  }

  @Test func velo() {
    let configuration = VeLO.Configuration(lstmHiddenSize: 16, paramInits: 8)
    let optimizer = VeLO(configuration: configuration, key: RandomKey(seed: 3))
    let layout = conformanceLayout
    let n = layout.count
    var packed: [String: [Int]] = [
      "loss_means": [10], "loss_running_min": [10], "lstm_hidden": [n, 16],
      "lstm_cell": [n, 16], "accumulator_means": [n, 4],
    ]
    // Three decays of Adafactor-style statistics per tensor: rows and columns of a factored
    // tensor (count / n₀ and count / n₁), every element of another.
    for entry in layout.entries {
      if let axes = Self.factoredAxes(entry.shape) {
        packed["factored_rows/\(entry.name)/planes"] = [3, entry.count / entry.shape[axes.d0]]
        packed["factored_columns/\(entry.name)/planes"] = [3, entry.count / entry.shape[axes.d1]]
      } else {
        packed["full/\(entry.name)/planes"] = [3, entry.count]
      }
    }
    checkOptimizer(optimizer, steps: nil, packedState: packed)
  }

  @Test func scheduledAdamLOpt() throws {
    let optimizer = try ShippedLearnedOptimizer.optimizer()
    checkOptimizer(
      optimizer,
      packedState: [
        "loss_means": [LossTrendFeatures.averageCount],
        "loss_running_minimum": [LossTrendFeatures.averageCount],
        "reference_scales": [conformanceLayout.count],
      ])
  }
}
