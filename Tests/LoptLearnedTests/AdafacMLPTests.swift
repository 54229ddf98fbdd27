import Foundation
import LoptCore
import LoptOptimizers
import Testing

@testable import LoptLearned

extension AdafacMLP: SmallFixtureOptimizer {
  var featureCount: Int { configuration.featureCount }
  var preconditionedGradientColumns: Range<Int>? {
    let k = configuration.decayCount
    return (4 + 2 * k)..<(4 + 3 * k)
  }

  func load(_ state: inout State, from fixture: ReferenceFixture, prefix: String) throws {
    for (kind, keyPath) in Self.stateKinds {
      try state[keyPath: keyPath].loadDecayMajor(from: fixture, kind: "\(prefix)/\(kind)")
    }
    for entry in state.rms.layout.entries {
      state.rms[entry.name] = try fixture.array("\(prefix)/rms/\(entry.name)")
        .reshaped(to: entry.shape)
    }
  }

  func accumulators(of state: State) -> [(name: String, values: ParameterSet)] {
    [(name: "rms", values: state.rms)]
      + Self.stateKinds.map { (name: $0.name, values: state[keyPath: $0.keyPath].decayLast()) }
  }

  func setIteration(_ iteration: Int, of state: inout State) { state.iteration = iteration }

  func step(
    _ parameters: inout ParameterSet, gradients: ParameterSet, state: inout State,
    trace: inout PerParameterTrace?
  ) {
    update(&parameters, gradients: gradients, state: &state, trace: &trace)
  }

  /// The accumulators with their fixture names (`rms`, `S + [1]`, has no decay axis to move).
  static var stateKinds: [(name: String, keyPath: WritableKeyPath<State, ParameterSet>)] {
    [
      ("mom", \.momentum), ("fac_v_row", \.factoredRows), ("fac_v_col", \.factoredColumns),
      ("fac_v_diag", \.diagonal),
    ]
  }
}

@Suite struct AdafacMLPTests {
  static func optimizer(for fixture: ReferenceFixture) throws -> AdafacMLP {
    let configuration = AdafacMLP.Configuration()
    let theta = try fixture.metaParameterSet(
      layout: AdafacMLP.metaParameterLayout(for: configuration))
    return try AdafacMLP(configuration: configuration, metaParameters: theta)
  }

  @Test(arguments: ["small/adafac_mlp/default", "small/adafac_mlp/decay_offsets"])
  func matchesTheReferenceFixtureStepByStep(folder: String) throws {
    let fixture = try ReferenceFixture(folder)
    var optimizer = try Self.optimizer(for: fixture)
    optimizer.decays = AdafacMLP.Decays(
      momentum: try fixture.array("decays/momentum").scalars,
      rms: try fixture.array("decays/rms").scalars[0],
      adafactor: try fixture.array("decays/adafactor").scalars)
    let worst = try SmallFixtureParity.run(optimizer, fixture: fixture)
    print("AdafacMLP parity, \(folder) worst: \(SmallFixtureParity.summary(worst))")
  }

  @Test(arguments: ["small/adafac_mlp/default", "small/adafac_mlp/decay_offsets"])
  func decaysFromTheOffsetsMatchTheReferenceWithinAFewUlps(folder: String) throws {
    let fixture = try ReferenceFixture(folder)
    let decays = try Self.optimizer(for: fixture).decays
    let expected = [
      try fixture.array("decays/momentum").scalars, try fixture.array("decays/rms").scalars,
      try fixture.array("decays/adafactor").scalars,
    ]
    for (actual, reference) in zip([decays.momentum, [decays.rms], decays.adafactor], expected) {
      for (a, b) in zip(actual, reference) { #expect(abs(a - b) <= 4 * b.ulp, "\(a) vs \(b)") }
    }
  }

  @Test func metaParameterLayoutIsTheReferenceTreeInLeafOrder() throws {
    let fixture = try ReferenceFixture("small/adafac_mlp/default")
    let layout = AdafacMLP.metaParameterLayout(for: AdafacMLP.Configuration())
    #expect(layout.names == fixture.metaParameters.map(\.name))
    #expect(layout.entries.map(\.shape) == fixture.metaParameters.map(\.shape))
  }

  @Test(arguments: [
    ([784, 32], 0, 1), ([10, 10], 1, 0), ([3, 3, 16, 32], 3, 2), ([3, 3, 16, 16], 3, 2),
    ([16, 16, 3, 3], 1, 0), ([3, 3, 2, 2], 1, 0), ([2, 3, 5], 2, 1), ([1, 6], 1, 0),
  ])
  func factoredAxesFollowTheStableSortRule(shape: [Int], row: Int, column: Int) throws {
    let axes = try #require(FactoredAxes(shape: shape))
    #expect(axes.row == row && axes.column == column)
  }

  @Test func scalarsAndVectorsAreNotFactored() {
    #expect(FactoredAxes(shape: []) == nil && FactoredAxes(shape: [7]) == nil)
  }

  @Test func stateShapesFollowTheFactoredRule() throws {
    let configuration = AdafacMLP.Configuration()
    let optimizer = try AdafacMLP(
      configuration: configuration,
      metaParameters: AdafacMLP.initialMetaParameters(for: configuration, key: RandomKey(seed: 2)))
    let layout = ParameterLayout([
      ("s", []), ("v", [7]), ("w", [784, 32]), ("k", [3, 3, 16, 16]), ("e", [1, 512]),
    ])
    let state = optimizer.makeState(for: ParameterSet(layout: layout), totalSteps: 5)
    #expect(
      state.factoredRows.layout.entries.map(\.shape) == [
        [3, 0], [3, 0], [3, 32], [3, 3, 3, 16], [3, 1],
      ])
    #expect(
      state.factoredColumns.layout.entries.map(\.shape) == [
        [3, 0], [3, 0], [3, 784], [3, 3, 3, 16], [3, 512],
      ])
    #expect(
      state.diagonal.layout.entries.map(\.shape) == [[3], [3, 7], [3, 0], [3, 0], [3, 0]])
    #expect(
      state.rms.layout.entries.map(\.shape) == [
        [1], [7, 1], [784, 32, 1], [3, 3, 16, 16, 1], [1, 512, 1],
      ])
  }

  @Test func initialDecayOffsetsAreZeroAndWeightsTruncatedNormal() {
    let configuration = AdafacMLP.Configuration()
    let theta = AdafacMLP.initialMetaParameters(for: configuration, key: RandomKey(seed: 4))
    for name in ["momentum_decays", "rms_decays", "adafactor_decays", "nn.~.b0"] {
      #expect(theta[name].scalars.allSatisfy { $0 == 0 }, "\(name)")
    }
    let w0 = theta["nn.~.w0"].scalars
    #expect(w0.allSatisfy { abs($0) <= 2 / Float(39).squareRoot() + 1e-6 })
    #expect(Set(w0).count == w0.count)
  }
}
