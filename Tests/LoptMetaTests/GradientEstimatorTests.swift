import LoptCore
import Testing

@testable import LoptMeta

/// The estimators average to the true gradient.
///
/// Each test collects one independent estimate
/// per lane (for the truncated estimators: the mean of a lane's estimates over one whole
/// episode), and accepts the mean when it is within 5 standard errors (sample standard
/// deviation / √N) of the truth in every element: for a correct estimator a false failure has
/// probability below 1e-5 per element, while a bias of a few standard errors is caught.
@Suite struct GradientEstimatorTests {
  /// Per-lane estimates for `lanes` lanes over `calls` outer steps (θ fixed), averaged per lane.
  func laneEstimates<P: InnerProblem>(
    _ problem: P, kind: EstimatorKind, theta: [Float], lanes: Int, calls: Int,
    truncation: TruncationSchedule, unrollLength: Int = 5, sigma: Float = 0.1
  ) throws -> [[Float]] {
    let settings = EstimatorSettings(
      kind: kind, standardDeviation: sigma, pairs: 1, usesSign: false, objective: .average,
      unrollLength: unrollLength)
    let randomness = MetaRandomness(seed: 7)
    let estimator = try GradientEstimator(
      problem: problem, settings: settings, truncation: truncation, randomness: randomness)
    let layout = problem.metaParameterLayout
    let thetaSet = ParameterSet(layout: layout, flat: Tensor(shape: [theta.count], scalars: theta))
    var assembler = GradientAssembler(
      settings: settings, randomness: randomness, count: theta.count)
    var gradient = thetaSet.zerosLike()
    var estimates: [[Float]] = []
    for lane in 0..<lanes {
      let state = LaneState<P>(layout: layout)
      var sum = [Float](repeating: 0, count: theta.count)
      for call in 0..<calls {
        let report = try estimator.runLane(
          lane, step: call, family: 0, theta: thetaSet, state: state)
        assembler.gradient(reports: [report], step: call, into: &gradient)
        gradient.withUnsafeBufferPointer { g in for j in 0..<sum.count { sum[j] += g[j] } }
      }
      estimates.append(sum.map { $0 / Float(calls) })
    }
    return estimates
  }

  /// Mean and standard error per element.
  func summary(_ estimates: [[Float]]) -> (mean: [Float], standardError: [Float]) {
    let n = Float(estimates.count)
    let d = estimates[0].count
    let mean = (0..<d).map { j in estimates.reduce(0) { $0 + $1[j] } / n }
    let error = (0..<d).map { j in
      (estimates.reduce(0) { $0 + ($1[j] - mean[j]) * ($1[j] - mean[j]) } / (n - 1) / n)
        .squareRoot()
    }
    return (mean, error)
  }

  func expectUnbiased(
    _ estimates: [[Float]], truth: [Float], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let (mean, error) = summary(estimates)
    for j in 0..<truth.count {
      #expect(
        abs(mean[j] - truth[j]) <= 5 * error[j],
        "element \(j): mean \(mean[j]) vs \(truth[j]) (standard error \(error[j]))",
        sourceLocation: sourceLocation)
    }
  }

  let quadratic = QuadraticProblem(a: [1, 2, 0.5, 4], b: [0.3, -0.2, 1, 0])
  let theta: [Float] = [1, 0.5, -1, 0.25]

  @Test func fullESIsUnbiasedOnAQuadratic() throws {
    let estimates = try laneEstimates(
      quadratic, kind: .fullES, theta: theta, lanes: 2000, calls: 1,
      truncation: TruncationSchedule(kind: .constant, length: 3))
    let truth = quadratic.gradient(theta)
    expectUnbiased(estimates, truth: truth)
    // For antithetic ES on a quadratic, Δ = 2σ g·ε exactly, so one estimate is (g·ε) ε with
    // variance |g|² + gⱼ² per element.
    let norm2 = truth.reduce(0) { $0 + $1 * $1 }
    let (_, error) = summary(estimates)
    for j in 0..<truth.count {
      let predicted = ((norm2 + truth[j] * truth[j]) / 2000).squareRoot()
      #expect(abs(error[j] - predicted) < 0.15 * predicted, "variance of element \(j)")
    }
  }

  @Test func noiseReuseESIsUnbiasedOnAQuadratic() throws {
    let estimates = try laneEstimates(
      quadratic, kind: .noiseReuseES, theta: theta, lanes: 1000, calls: 4,
      truncation: TruncationSchedule(kind: .constant, length: 20))
    expectUnbiased(estimates, truth: quadratic.gradient(theta))
  }

  @Test func noiseReuseESIsUnbiasedOnTheDriftProblem() throws {
    // Unlike the quadratic, the drift problem carries θ's effect in its state, so NRES must
    // keep both copies' episodes and one ε per episode to be unbiased here.
    let drift = DriftProblem(c: [1, -0.5, 2])
    let theta: [Float] = [0.05, 0.02, -0.03]
    let estimates = try laneEstimates(
      drift, kind: .noiseReuseES, theta: theta, lanes: 1000, calls: 4,
      truncation: TruncationSchedule(kind: .constant, length: 20), sigma: 0.01)
    expectUnbiased(estimates, truth: drift.averageLossGradient(theta, length: 20))
  }

  @Test func pesOnTruncationsMatchesFullESOnTheWholeUnroll() throws {
    let drift = DriftProblem(c: [1, -0.5, 2])
    let theta: [Float] = [0.05, 0.02, -0.03]
    let length = 20
    let truth = drift.averageLossGradient(theta, length: length)
    let pes = try laneEstimates(
      drift, kind: .pes, theta: theta, lanes: 1000, calls: length / 5,
      truncation: TruncationSchedule(kind: .constant, length: length), sigma: 0.01)
    let full = try laneEstimates(
      drift, kind: .fullES, theta: theta, lanes: 1000, calls: 1,
      truncation: TruncationSchedule(kind: .constant, length: length), sigma: 0.01)
    expectUnbiased(pes, truth: truth)
    expectUnbiased(full, truth: truth)
    // The two agree with each other within their combined standard error.
    let (pesMean, pesError) = summary(pes)
    let (fullMean, fullError) = summary(full)
    for j in 0..<truth.count {
      let combined = (pesError[j] * pesError[j] + fullError[j] * fullError[j]).squareRoot()
      #expect(abs(pesMean[j] - fullMean[j]) <= 5 * combined)
    }
  }

  @Test func truncatedESIsBiasedTowardsTheTruncation() throws {
    // Truncated ES ignores θ's effect on the carried state, so on the drift problem it
    // estimates a different quantity than PES: a check that the test above can fail.
    let drift = DriftProblem(c: [1, -0.5, 2])
    let theta: [Float] = [0.05, 0.02, -0.03]
    let estimates = try laneEstimates(
      drift, kind: .truncatedES, theta: theta, lanes: 400, calls: 4,
      truncation: TruncationSchedule(kind: .constant, length: 20), sigma: 0.01)
    let (mean, error) = summary(estimates)
    let truth = drift.averageLossGradient(theta, length: 20)
    #expect((0..<truth.count).contains { abs(mean[$0] - truth[$0]) > 5 * error[$0] })
  }

  @Test func signModeAndClippingProcessDifferences() {
    var settings = EstimatorSettings(usesSign: true)
    #expect(settings.processedDifference(plus: 2, minus: 1) == 1)
    #expect(settings.processedDifference(plus: 1, minus: 2) == -1)
    #expect(settings.processedDifference(plus: .nan, minus: 1) == 0)
    #expect(settings.processedDifference(plus: .infinity, minus: 1) == 0)
    settings.usesSign = false
    settings.clipLossDifference = 0.5
    #expect(settings.processedDifference(plus: 3, minus: 1) == 0.5)
    #expect(settings.processedDifference(plus: 1, minus: 1.25) == -0.25)
  }
}
