import Foundation
import LoptCore
import LoptOptimizers
import Testing

@testable import LoptLearned

/// Every element's intermediates of one step, per tensor, in the fixture's layout.
struct StepRecorder {
  var rawFeatures: [[Float]]
  var inputs: [[Float]]
  var outputs: [[Float]]
  var updates: [[Float]]

  /// The intermediates of `trace`: normalised inputs are the raw features times their channel's
  /// scale, followed by the step features.
  init(_ trace: PerParameterTrace) {
    rawFeatures = trace.features
    inputs = zip(trace.features, trace.scales).map { features, scales in
      stride(from: 0, to: features.count, by: scales.count).flatMap { row in
        scales.indices.map { features[row + $0] * scales[$0] } + trace.stepFeatures
      }
    }
    outputs = trace.outputs.map { o in
      stride(from: 0, to: o.count, by: 3).flatMap { [o[$0], o[$0 + 1]] }
    }
    updates = trace.outputs.map { o in stride(from: 2, to: o.count, by: 3).map { o[$0] } }
  }
}

/// `values` of shape `S + [k]` as `[k] + S` (decay axis first), or back when `inverse`.
func movingDecayAxis(_ values: [Float], k: Int, inverse: Bool = false) -> [Float] {
  let count = values.count / max(k, 1)
  var result = values
  for i in 0..<count {
    for j in 0..<k {
      if inverse {
        result[i * k + j] = values[j * count + i]
      } else {
        result[j * count + i] = values[i * k + j]
      }
    }
  }
  return result
}

/// A per-parameter learned optimizer the small-fixture parity harness can drive.
protocol SmallFixtureOptimizer: LearnedOptimizer {
  /// The number of normalised features per element.
  var featureCount: Int { get }
  /// The raw-feature columns holding the Adafactor-preconditioned gradient, if any.
  var preconditionedGradientColumns: Range<Int>? { get }
  /// Sets the accumulators from the fixture arrays `<prefix>/<kind>/<tensor>`.
  func load(_ state: inout State, from fixture: ReferenceFixture, prefix: String) throws
  /// The accumulators to compare, under their fixture names.
  func accumulators(of state: State) -> [(name: String, values: ParameterSet)]
  /// Sets the step counter.
  func setIteration(_ iteration: Int, of state: inout State)
  /// One step recording the intermediates.
  func step(
    _ parameters: inout ParameterSet, gradients: ParameterSet, state: inout State,
    trace: inout PerParameterTrace?)
}

/// Runs every step of a small-learned-optimizer fixture from the stored pre-step state and
/// compares outputs and intermediates with SMALL_LOPT_README.md's metrics and tolerances.
enum SmallFixtureParity {
  /// The tolerance of each quantity (relative to the tensor's or column's largest value).
  static let tolerances: [String: Double] = [
    "update": 1e-4, "params": 1e-4, "mlp_output": 1e-4, "mlp_input": 1e-5,
    "mlp_input_raw": 1e-5, "training_step_feature": 1e-6, "fac_g": 1e-5, "mom": 1e-5,
    "rms": 1e-5, "fac_v_row": 1e-5, "fac_v_col": 1e-5, "fac_v_diag": 1e-5,
  ]

  /// Runs the fixture and returns the worst metric of each quantity.
  static func run<O: SmallFixtureOptimizer>(
    _ optimizer: O, fixture: ReferenceFixture
  ) throws -> [String: Double] {
    let layout = fixture.modelLayout
    let steps = try #require(fixture.json["steps"] as? [[String: Any]])
    let totalSteps = try #require(fixture.json["num_steps"] as? Int)
    var worst: [String: Double] = [:]
    func note(_ quantity: String, _ value: Double, _ context: String) {
      worst[quantity] = max(worst[quantity] ?? 0, value)
      #expect(value <= tolerances[quantity]!, "\(quantity) \(context): \(value)")
    }
    for (k, step) in steps.enumerated() {
      let prefix = k == 0 ? "init_state" : "step/\(k - 1)/output"
      var parameters = try fixture.parameterSet(
        prefix: k == 0 ? "model/params" : "step/\(k - 1)/output/params")
      let gradients = try fixture.parameterSet(prefix: "step/\(k)/input/grads")
      var state = optimizer.makeState(for: parameters, totalSteps: totalSteps)
      try optimizer.load(&state, from: fixture, prefix: prefix)
      optimizer.setIteration(try #require(step["iteration_before"] as? Int), of: &state)
      var trace: PerParameterTrace? = PerParameterTrace()
      optimizer.step(&parameters, gradients: gradients, state: &state, trace: &trace)
      let recorder = StepRecorder(try #require(trace))

      let stepFeatures = try fixture.array("step/\(k)/intermediate/training_step_feature").scalars
      let inputCount = optimizer.featureCount + stepFeatures.count
      for (i, entry) in layout.entries.enumerated() {
        let name = entry.name
        let context = "step \(k) tensor \(name)"
        func reference(_ kind: String) throws -> [Float] {
          try fixture.array("step/\(k)/\(kind)/\(name)").scalars
        }
        let update = try reference("intermediate/update")
        let largestUpdate = largest(update)
        note("update", difference(recorder.updates[i], update) / largestUpdate, context)
        let after = try reference("output/params")
        let actualAfter = parameters[name].scalars
        let excess = zip(actualAfter, after).map { max(Double(abs($0 - $1) - $1.ulp), 0) }
        note("params", (excess.max() ?? 0) / largestUpdate, context)
        let output = try reference("intermediate/mlp_output")
        note("mlp_output", difference(recorder.outputs[i], output) / largest(output), context)
        let input = try reference("intermediate/mlp_input")
        let actualInput = recorder.inputs[i]
        let normalised = 0..<optimizer.featureCount
        note(
          "mlp_input", worstColumn(actualInput, input, width: inputCount, columns: normalised),
          context)
        let tail = optimizer.featureCount..<inputCount
        for row in 0..<(input.count / inputCount) {
          for c in tail {
            note(
              "training_step_feature",
              Double(abs(actualInput[row * inputCount + c] - input[row * inputCount + c])),
              context)
          }
        }
        let raw = try reference("intermediate/mlp_input_raw")
        note(
          "mlp_input_raw",
          worstColumn(
            recorder.rawFeatures[i], raw, width: optimizer.featureCount,
            columns: 0..<optimizer.featureCount), context)
        if let columns = optimizer.preconditionedGradientColumns {
          let expected = try reference("intermediate/fac_g")
          let actual = stride(
            from: 0, to: recorder.rawFeatures[i].count, by: optimizer.featureCount
          )
          .flatMap {
            recorder.rawFeatures[i][($0 + columns.lowerBound)..<($0 + columns.upperBound)]
          }
          note("fac_g", difference(actual, expected) / largest(expected), context)
        }
        for (kind, values) in optimizer.accumulators(of: state) {
          let expected = try reference("output/\(kind)")
          note(kind, difference(values[name].scalars, expected) / largest(expected), context)
        }
      }
      let embedding = (0..<stepFeatures.count).map {
        recorder.inputs[0][optimizer.featureCount + $0]
      }
      note("training_step_feature", difference(embedding, stepFeatures), "step \(k)")
    }
    return worst
  }

  /// The largest |x|, or 1 when every element is 0 (the metric is then absolute).
  static func largest(_ values: [Float]) -> Double {
    let result = values.map { Double(abs($0)) }.max() ?? 0
    return result > 0 ? result : 1
  }

  /// The largest |a − b|.
  static func difference(_ actual: [Float], _ expected: [Float]) -> Double {
    #expect(actual.count == expected.count, "element counts differ")
    return zip(actual, expected).map { Double(abs($0 - $1)) }.max() ?? 0
  }

  /// The worst over `columns` of max |a − b| / max |b| within the column of `[rows, width]`.
  static func worstColumn(
    _ actual: [Float], _ expected: [Float], width: Int, columns: Range<Int>
  ) -> Double {
    #expect(actual.count == expected.count, "element counts differ")
    var worst = 0.0
    for c in columns {
      let a = stride(from: c, to: actual.count, by: width).map { actual[$0] }
      let b = stride(from: c, to: expected.count, by: width).map { expected[$0] }
      worst = max(worst, difference(a, b) / largest(b))
    }
    return worst
  }

  /// A one-line summary of worst metrics, sorted by quantity.
  static func summary(_ worst: [String: Double]) -> String {
    worst.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2e", $0.value))" }
      .joined(separator: ", ")
  }
}

extension MLPLOpt: SmallFixtureOptimizer {
  var featureCount: Int { configuration.featureCount }
  var preconditionedGradientColumns: Range<Int>? { nil }

  func load(_ state: inout State, from fixture: ReferenceFixture, prefix: String) throws {
    try state.momentum.loadDecayMajor(from: fixture, kind: "\(prefix)/mom")
  }

  func accumulators(of state: State) -> [(name: String, values: ParameterSet)] {
    [(name: "mom", values: state.momentum.decayLast())]
  }

  func setIteration(_ iteration: Int, of state: inout State) { state.iteration = iteration }

  func step(
    _ parameters: inout ParameterSet, gradients: ParameterSet, state: inout State,
    trace: inout PerParameterTrace?
  ) {
    update(&parameters, gradients: gradients, state: &state, trace: &trace)
  }
}

extension ParameterSet {
  /// Sets every tensor (shape `[k] + S`) from the fixture array `<kind>/<name>` of shape
  /// `S + [k]`.
  mutating func loadDecayMajor(from fixture: ReferenceFixture, kind: String) throws {
    for entry in layout.entries {
      let values = try fixture.array("\(kind)/\(entry.name)").scalars
      self[entry.name] = Tensor(
        shape: entry.shape, scalars: movingDecayAxis(values, k: entry.shape.first ?? 1))
    }
  }

  /// The set with every tensor's leading decay axis moved last, named as before (flat values
  /// only: the fixture comparison reads scalars).
  func decayLast() -> ParameterSet {
    var result = self
    for entry in layout.entries {
      result[entry.name] = Tensor(
        shape: entry.shape,
        scalars: movingDecayAxis(self[entry.name].scalars, k: entry.shape.first ?? 1, inverse: true)
      )
    }
    return result
  }
}

@Suite struct MLPLOptTests {
  @Test func matchesTheReferenceFixtureStepByStep() throws {
    let fixture = try ReferenceFixture("small/mlp_lopt/default")
    let configuration = MLPLOpt.Configuration()
    let theta = try fixture.metaParameterSet(
      layout: MLPLOpt.metaParameterLayout(for: configuration))
    let optimizer = try MLPLOpt(configuration: configuration, metaParameters: theta)
    let worst = try SmallFixtureParity.run(optimizer, fixture: fixture)
    print("MLPLOpt parity, mlp_lopt/default worst: \(SmallFixtureParity.summary(worst))")
  }

  @Test func metaParameterLayoutIsTheReferenceTreeInLeafOrder() throws {
    let fixture = try ReferenceFixture("small/mlp_lopt/default")
    let layout = MLPLOpt.metaParameterLayout(for: MLPLOpt.Configuration())
    #expect(layout.names == fixture.metaParameters.map(\.name))
    #expect(layout.entries.map(\.shape) == fixture.metaParameters.map(\.shape))
  }

  @Test func initialisationIsATruncatedNormalOverFanIn() throws {
    let configuration = MLPLOpt.Configuration()
    let theta = MLPLOpt.initialMetaParameters(for: configuration, key: RandomKey(seed: 3))
    let w = theta["mlp/~/linear_1.w"].scalars
    let std = (w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)).squareRoot()
    // TruncatedNormal(σ) truncated at ±2σ has a standard deviation of 0.88σ; σ = 1/√32.
    #expect(abs(std - 0.8796 / 32.0.squareRoot()) < 0.01)
    #expect(w.allSatisfy { abs($0) <= 2 / Float(32).squareRoot() + 1e-6 })
    #expect(theta["mlp/~/linear_0.b"].scalars.allSatisfy { $0 == 0 })
    #expect(MLPLOpt.initialMetaParameters(for: configuration, key: RandomKey(seed: 3)) == theta)
  }

  @Test func rejectsMetaParametersOfAnotherArchitecture() throws {
    let small = MLPLOpt.Configuration(hiddenSize: 8)
    let theta = MLPLOpt.initialMetaParameters(for: small, key: RandomKey(seed: 0))
    #expect(
      throws: CheckpointError.shapeMismatch(tensor: "mlp/~/linear_0.b", expected: [32], found: [8])
    ) {
      try MLPLOpt(configuration: MLPLOpt.Configuration(), metaParameters: theta)
    }
  }

  @Test func stateMatchesTheParameterShapesAndStepsAreDeterministic() throws {
    let optimizer = try MLPLOpt(
      configuration: MLPLOpt.Configuration(),
      metaParameters: MLPLOpt.initialMetaParameters(
        for: MLPLOpt.Configuration(), key: RandomKey(seed: 1)))
    let layout = ParameterLayout([("s", []), ("v", [7]), ("w", [5, 3]), ("k", [3, 3, 2, 2])])
    var parameters = ParameterSet(layout: layout, repeating: 0.5)
    let gradients = ParameterSet(layout: layout, repeating: -0.25)
    var state = optimizer.makeState(for: parameters, totalSteps: 10)
    #expect(
      state.momentum.layout.entries.map(\.shape) == [[6], [6, 7], [6, 5, 3], [6, 3, 3, 2, 2]])
    var copy = parameters
    var copyState = state
    optimizer.update(&parameters, gradients: gradients, loss: 1, state: &state)
    optimizer.update(&copy, gradients: gradients, loss: 1, state: &copyState)
    #expect(parameters == copy && state.iteration == 1)
    #expect(parameters.isFinite && parameters != ParameterSet(layout: layout, repeating: 0.5))
  }
}
