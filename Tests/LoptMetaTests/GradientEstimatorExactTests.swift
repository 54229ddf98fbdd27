import Foundation
import LoptCore
import LoptLearned
import LoptTasks
import Testing

@testable import LoptMeta

/// Each lane's estimate against the one the estimator's definition gives, computed here from
/// the regenerated noise: the toy problems are deterministic, so every call of every lane has
/// one right answer (up to Float rounding), not only the mean over lanes.
@Suite struct GradientEstimatorExactTests {
  /// A deterministic unroll the reference below can replay in `Double`.
  struct Simulator: Sendable {
    /// The state a new episode starts from.
    var start: [Double]
    /// Advances the state one step under θ and returns the step's loss.
    var step: @Sendable (inout [Double], [Double]) -> Double
    /// The end-of-unroll objective (`last-recompute`) at a state reached under θ.
    var final: @Sendable ([Double], [Double]) -> Double
  }

  static let drift = DriftProblem(c: [1, -0.5, 2])
  static let driftSimulator = Simulator(
    start: [0, 0, 0],
    step: { w, theta in
      var loss = 0.0
      for j in w.indices {
        w[j] += theta[j]
        loss += 0.5 * (w[j] - Double(drift.c[j])) * (w[j] - Double(drift.c[j]))
      }
      return loss
    },
    final: { w, _ in
      w.indices.reduce(0) {
        $0 + 0.5 * (w[$1] - Double(drift.c[$1])) * (w[$1] - Double(drift.c[$1]))
      }
    })

  static let quadratic = QuadraticProblem(a: [1, 2, 0.5, 4], b: [0.3, -0.2, 1, 0])
  static let quadraticSimulator = Simulator(
    start: [],
    step: { _, theta in Double(quadratic.value(theta.map { Float($0) })) },
    final: { _, theta in Double(quadratic.value(theta.map { Float($0) })) })

  /// The estimate of every call of lane `lane` by the definitions (GradientEstimator's and
  /// GradientAssembler's documentation, docs/meta-training-method.md §2), with one lane per step (N = 1).
  ///
  /// With `forgetsAccumulatedNoise`, PES credits only this step's ε (a wrong variant, for the
  /// negative control).
  static func reference(
    _ simulator: Simulator, settings: EstimatorSettings, length: Int, theta: [Float],
    randomness: MetaRandomness, lane: Int, calls: Int, forgetsAccumulatedNoise: Bool = false
  ) -> [[Double]] {
    let sigma = Double(settings.standardDeviation)
    let base = theta.map(Double.init)
    func epsilon(_ step: Int) -> [Double] {
      let key = randomness.noise(step: step, lane: lane)
      return base.indices.map { Double(key.normal(at: $0)) }
    }
    func unroll(_ w: inout [Double], _ perturbed: [Double], steps: Int) -> Double {
      var losses: [Double] = []
      for _ in 0..<steps { losses.append(simulator.step(&w, perturbed)) }
      switch settings.objective {
      case .average: return losses.reduce(0, +) / Double(losses.count)
      case .last: return losses[losses.count - 1]
      case .lastRecompute: return simulator.final(w, perturbed)
      }
    }
    func processed(_ difference: Double) -> Double {
      settings.usesSign ? (difference > 0 ? 1 : difference < 0 ? -1 : 0) : difference
    }
    var (plus, minus) = (simulator.start, simulator.start)
    var (episodeStart, remaining) = (0, 0)
    var accumulated: [Double] = []
    var estimates: [[Double]] = []
    for call in 0..<calls {
      let kind = settings.kind
      var direction: [Double]
      var difference: Double
      if kind == .fullES {
        direction = epsilon(call)
        var (p, m) = (simulator.start, simulator.start)
        difference =
          unroll(&p, zip(base, direction).map { $0 + sigma * $1 }, steps: length)
          - unroll(&m, zip(base, direction).map { $0 - sigma * $1 }, steps: length)
      } else {
        let unrollLength = settings.unrollLength
        if remaining <= 0 {
          (plus, minus) = (simulator.start, simulator.start)
          episodeStart = call
          remaining = (length + unrollLength - 1) / unrollLength * unrollLength
        }
        let noise = epsilon(kind == .noiseReuseES ? episodeStart : call)
        var p = plus
        var m = kind == .truncatedES ? plus : minus
        difference =
          unroll(&p, zip(base, noise).map { $0 + sigma * $1 }, steps: unrollLength)
          - unroll(&m, zip(base, noise).map { $0 - sigma * $1 }, steps: unrollLength)
        (plus, minus) = (p, m)
        remaining -= unrollLength
        direction = noise
        if kind == .pes {
          accumulated =
            call == episodeStart || forgetsAccumulatedNoise
            ? noise : zip(accumulated, noise).map { $0 + $1 }
          direction = accumulated
        }
      }
      let c = processed(difference) / (2 * sigma)
      estimates.append(direction.map { c * $0 })
    }
    return estimates
  }

  /// The product's estimate of every call of each lane, one lane per step (N = 1).
  static func product<P: InnerProblem>(
    _ problem: P, settings: EstimatorSettings, length: Int, theta: [Float],
    randomness: MetaRandomness, lanes: Range<Int>, calls: Int
  ) throws -> [[[Float]]] {
    let estimator = try GradientEstimator(
      problem: problem, settings: settings,
      truncation: TruncationSchedule(kind: .constant, length: length), randomness: randomness)
    let layout = problem.metaParameterLayout
    let thetaSet = ParameterSet(layout: layout, flat: Tensor(shape: [theta.count], scalars: theta))
    var assembler = GradientAssembler(
      settings: settings, randomness: randomness, count: theta.count)
    var gradient = thetaSet.zerosLike()
    return try lanes.map { lane in
      let state = LaneState<P>(layout: layout)
      return try (0..<calls).map { call in
        let report = try estimator.runLane(
          lane, step: call, family: 0, theta: thetaSet, state: state)
        #expect(!report.diverged)
        assembler.gradient(reports: [report], step: call, into: &gradient)
        return gradient.withUnsafeBufferPointer { Array($0) }
      }
    }
  }

  /// Whether `estimate` is `expected` to Float rounding (relative to the largest element).
  static func close(_ estimate: [Float], _ expected: [Double]) -> Bool {
    let scale = expected.map(abs).max() ?? 0
    return zip(estimate, expected).allSatisfy { abs(Double($0) - $1) <= 1e-3 * scale + 1e-6 }
  }

  static let driftTheta: [Float] = [0.05, 0.02, -0.03]

  /// Drift, episodes of 7 steps rounded up to 10 (two unrolls of 5), six calls: every lane
  /// runs three episodes, so each rollover (and PES's reset of the accumulated ε) is exercised.
  @Test(arguments: [EstimatorKind.pes, .noiseReuseES, .truncatedES, .fullES])
  func everyLaneOfEveryCallMatchesTheDefinitionOnTheDriftProblem(kind: EstimatorKind) throws {
    let settings = EstimatorSettings(
      kind: kind, standardDeviation: 0.01, pairs: 1, usesSign: false, objective: .average,
      unrollLength: 5)
    let randomness = MetaRandomness(seed: 7)
    let estimates = try Self.product(
      Self.drift, settings: settings, length: 7, theta: Self.driftTheta, randomness: randomness,
      lanes: 0..<4, calls: 6)
    for lane in 0..<4 {
      let expected = Self.reference(
        Self.driftSimulator, settings: settings, length: 7, theta: Self.driftTheta,
        randomness: randomness, lane: lane, calls: 6)
      for call in 0..<6 {
        #expect(
          Self.close(estimates[lane][call], expected[call]),
          "\(kind) lane \(lane) call \(call): \(estimates[lane][call]) vs \(expected[call])")
      }
    }
  }

  @Test func aPESThatForgetsItsAccumulatedNoiseIsRejected() throws {
    // Negative control: the comparison above tells PES from a PES crediting only this step's ε
    // (they agree on each episode's first call and differ on its second).
    let settings = EstimatorSettings(
      kind: .pes, standardDeviation: 0.01, pairs: 1, usesSign: false, objective: .average,
      unrollLength: 5)
    let randomness = MetaRandomness(seed: 7)
    let estimates = try Self.product(
      Self.drift, settings: settings, length: 7, theta: Self.driftTheta, randomness: randomness,
      lanes: 0..<1, calls: 2)
    let forgetful = Self.reference(
      Self.driftSimulator, settings: settings, length: 7, theta: Self.driftTheta,
      randomness: randomness, lane: 0, calls: 2, forgetsAccumulatedNoise: true)
    #expect(Self.close(estimates[0][0], forgetful[0]))
    withKnownIssue("PES credits the sum of the episode's ε, not the last one") {
      let matches = Self.close(estimates[0][1], forgetful[1])
      #expect(matches)
    }
  }

  @Test(arguments: [MetaObjective.last, .lastRecompute])
  func theOtherObjectivesMatchTheDefinition(objective: MetaObjective) throws {
    let settings = EstimatorSettings(
      kind: .fullES, standardDeviation: 0.01, pairs: 1, usesSign: false, objective: objective)
    let randomness = MetaRandomness(seed: 2)
    let estimates = try Self.product(
      Self.drift, settings: settings, length: 6, theta: Self.driftTheta, randomness: randomness,
      lanes: 0..<3, calls: 2)
    for lane in 0..<3 {
      let expected = Self.reference(
        Self.driftSimulator, settings: settings, length: 6, theta: Self.driftTheta,
        randomness: randomness, lane: lane, calls: 2)
      for call in 0..<2 { #expect(Self.close(estimates[lane][call], expected[call])) }
    }
  }

  /// The default path: FullES in sign mode scored by `last-recompute` (VeLO's settings).
  @Test func theDefaultSettingsMatchTheDefinitionAndPointDownhill() throws {
    let settings = EstimatorSettings(pairs: 1)
    #expect(settings.kind == .fullES && settings.usesSign && settings.objective == .lastRecompute)
    let theta: [Float] = [1, 0.5, -1, 0.25]
    let randomness = MetaRandomness(seed: 5)
    let lanes = 400
    let estimates = try Self.product(
      Self.quadratic, settings: settings, length: 3, theta: theta, randomness: randomness,
      lanes: 0..<lanes, calls: 1)
    for lane in 0..<8 {
      let expected = Self.reference(
        Self.quadraticSimulator, settings: settings, length: 3, theta: theta,
        randomness: randomness, lane: lane, calls: 1)
      #expect(Self.close(estimates[lane][0], expected[0]), "lane \(lane)")
    }
    // On a quadratic Δ = 2σ g·ε exactly, so E[sign(Δ) ε] / (2σ) = √(2/π) ĝ/|g| / (2σ): each
    // element within 5 standard errors of it.
    let g = Self.quadratic.gradient(theta)
    let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let scale = (2 / Float.pi).squareRoot() / norm / (2 * settings.standardDeviation)
    for j in 0..<theta.count {
      let values = estimates.map { $0[0][j] }
      let mean = values.reduce(0, +) / Float(lanes)
      let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(lanes - 1)
      let error = (variance / Float(lanes)).squareRoot()
      #expect(abs(mean - scale * g[j]) <= 5 * error, "element \(j): \(mean) vs \(scale * g[j])")
    }
  }

  /// A meta-objective that does not depend on θ.
  struct ConstantProblem: InnerProblem {
    var metaParameterLayout: ParameterLayout { ParameterLayout([("theta", [3])]) }
    func sampleFamily(key: RandomKey) -> Int { 0 }
    func rule(for metaParameters: ParameterSet) throws -> Int { 0 }
    func startEpisode(key: RandomKey, length: Int, family: Int) throws -> Int { 0 }
    func advance(_ episode: inout Int, rule: Int, steps: Int, losses: inout [Float]) -> Bool {
      for _ in 0..<steps { losses.append(3.25) }
      return true
    }
    func finalLoss(_ episode: inout Int, batches: Int) -> Float { 3.25 }
  }

  @Test(arguments: EstimatorKind.allCases, [false, true])
  func antitheticPairsCancelAConstant(kind: EstimatorKind, usesSign: Bool) throws {
    let settings = EstimatorSettings(
      kind: kind, standardDeviation: 0.1, pairs: 1, usesSign: usesSign,
      objective: kind.isTruncated ? .average : .lastRecompute, unrollLength: 2)
    let estimates = try Self.product(
      ConstantProblem(), settings: settings, length: 4, theta: [1, 2, 3],
      randomness: MetaRandomness(seed: 1), lanes: 0..<3, calls: 3)
    #expect(estimates.allSatisfy { $0.allSatisfy { $0.allSatisfy { $0 == 0 } } })
  }

  /// With σ = 0 the two copies of a pair differ in nothing, so on a real learned-optimizer
  /// problem (task sample, initialisation, batches and augmentation draws all from the
  /// episode's key) their objectives must be bitwise equal, call after call.
  @Test(arguments: [EstimatorKind.fullES, .pes])
  func theTwoCopiesShareTaskInitialisationAndBatches(kind: EstimatorKind) throws {
    var spec = try #require(TaskSpec.named["mlp-fashion8-relu32"])
    spec.augmentation.reparameterization = .init(level: .tensor, low: 0.1, high: 10)
    let problem = LearnedOptimizerProblem<AdafacMLP>(
      configuration: AdafacMLP.Configuration(), source: .tasks([spec]))
    let settings = EstimatorSettings(
      kind: kind, standardDeviation: 0, pairs: 1, usesSign: false,
      objective: kind.isTruncated ? .average : .lastRecompute, recomputeBatches: 2,
      unrollLength: 2)
    let estimator = try GradientEstimator(
      problem: problem, settings: settings,
      truncation: TruncationSchedule(kind: .constant, length: 4),
      randomness: MetaRandomness(seed: 9))
    let theta = AdafacMLP.initialMetaParameters(
      for: AdafacMLP.Configuration(), key: RandomKey(seed: 1))
    var objectives: [Float] = []
    for lane in 0..<2 {
      let state = LaneState<LearnedOptimizerProblem<AdafacMLP>>(layout: theta.layout)
      for call in 0..<3 {
        let report = try estimator.runLane(
          lane, step: call, family: 0, theta: theta, state: state)
        #expect(report.plus.isFinite && report.plus == report.minus, "lane \(lane) call \(call)")
        objectives.append(report.plus)
      }
    }
    // The lanes' episodes differ (another key: another initialisation and data order).
    #expect(objectives[0] != objectives[3])
  }
}
