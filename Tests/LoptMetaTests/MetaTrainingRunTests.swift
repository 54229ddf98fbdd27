import Foundation
import LoptCore
import LoptEval
import LoptLearned
import LoptOptimizers
import LoptTasks
import LoptTraining
import Testing

@testable import LoptMeta

/// Whole runs on a tiny configuration: determinism across thread counts, exact resume,
/// damaged checkpoints, divergence, and configuration errors.
@Suite struct MetaTrainingRunTests {
  static let tinyYAML = """
    learnedOptimizer: {kind: adafac_mlp}
    tasks:
      list:
        - task: mlp-fashion8-relu32
          augmentation: {reparameterization: {level: tensor, low: 0.1, high: 10}}
    estimator: {pairs: 3, recomputeBatches: 2}
    truncation: {kind: constant, length: 4}
    outer: {steps: 3, learningRate: 0.01}
    evaluation: {every: 0, steps: 5, seeds: 1}
    threads: 1
    checkpointSeconds: 1000
    """

  static func configuration(_ edit: (inout MetaTrainingConfiguration) -> Void = { _ in }) throws
    -> MetaTrainingConfiguration
  {
    var configuration = try MetaTrainingConfiguration(yaml: tinyYAML)
    edit(&configuration)
    return configuration
  }

  static func temporaryDirectory() -> RunDirectory {
    RunDirectory(
      url: FileManager.default.temporaryDirectory.appendingPathComponent(
        "lopt-meta-\(UUID().uuidString)"))
  }

  /// θ₀ of the tiny configuration (AdafacMLP from the run's seed).
  static func initialTheta() throws -> ParameterSet {
    let configuration = try Self.configuration()
    return AdafacMLP.initialMetaParameters(
      for: configuration.learnedOptimizer.adafacMLP,
      key: MetaRandomness(seed: configuration.seed).key.folding(in: 0))
  }

  /// Every outer step had a non-zero finite gradient and changed θ, and θ is not θ₀.
  func expectMoved(
    _ summary: MetaTrainingSummary, steps: StepLog,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let start = try Self.initialTheta()
    #expect(summary.theta.layout == start.layout, sourceLocation: sourceLocation)
    #expect(steps.records.count == summary.steps, sourceLocation: sourceLocation)
    for record in steps.records {
      #expect(
        record.gradientNorm > 0 && record.gradientNorm.isFinite && record.updated,
        "step \(record.step): |ĝ| \(record.gradientNorm)", sourceLocation: sourceLocation)
    }
    let moved = zip(summary.theta.flat.scalars, start.flat.scalars).filter { $0 != $1 }.count
    #expect(moved > 0, "θ after \(summary.steps) steps is θ₀", sourceLocation: sourceLocation)
  }

  @Test func metaTrainingMovesTheta() throws {
    let steps = StepLog()
    let summary = try metaTrain(
      Self.configuration(), directory: Self.temporaryDirectory(), resume: false,
      observer: MetaTrainingObserver(didStep: { steps.append($0) }))
    #expect(summary.steps == 3)
    try expectMoved(summary, steps: steps)
  }

  @Test func oneAndTwoThreadsGiveTheSameTheta() throws {
    let (oneSteps, twoSteps) = (StepLog(), StepLog())
    let one = try metaTrain(
      Self.configuration(), directory: Self.temporaryDirectory(), resume: false,
      observer: MetaTrainingObserver(didStep: { oneSteps.append($0) }))
    let two = try metaTrain(
      Self.configuration { $0.threads = 2 }, directory: Self.temporaryDirectory(), resume: false,
      observer: MetaTrainingObserver(didStep: { twoSteps.append($0) }))
    #expect(one.steps == 3)
    // Equal θs only mean something if the steps moved them.
    try expectMoved(one, steps: oneSteps)
    try expectMoved(two, steps: twoSteps)
    #expect(oneSteps.records.map(\.gradientNorm) == twoSteps.records.map(\.gradientNorm))
    #expect(one.theta == two.theta)
    #expect(
      one.theta
        != (try metaTrain(
          Self.configuration { $0.seed = 1 }, directory: Self.temporaryDirectory(), resume: false))
        .theta)
  }

  @Test func aResumedRunEqualsAnUninterruptedOne() throws {
    let wholeSteps = StepLog()
    let whole = try metaTrain(
      Self.configuration(), directory: Self.temporaryDirectory(), resume: false,
      observer: MetaTrainingObserver(didStep: { wholeSteps.append($0) }))
    try expectMoved(whole, steps: wholeSteps)
    let directory = Self.temporaryDirectory()
    let first = try metaTrain(
      Self.configuration { $0.outer.steps = 1 }, directory: directory, resume: false)
    let resumedSteps = StepLog()
    let resumed = try metaTrain(
      Self.configuration(), directory: directory, resume: true,
      observer: MetaTrainingObserver(didStep: { resumedSteps.append($0) }))
    #expect(resumed.steps == 3)
    // The resumed part ran steps 2 and 3 and they moved θ on from step 1's.
    #expect(resumedSteps.records.map(\.step) == [2, 3])
    #expect(resumedSteps.records.allSatisfy { $0.gradientNorm > 0 && $0.updated })
    #expect(first.theta != resumed.theta)
    #expect(resumed.theta == whole.theta)
    // The metrics read as one run: one line per outer step, one final evaluation per part.
    let lines = try String(contentsOf: directory.metricsURL, encoding: .utf8)
      .split(separator: "\n")
    #expect(lines.filter { $0.contains("\"metaLoss\"") }.count == 3)
    // The learned-optimizer checkpoint holds the final θ and loads.
    let checkpoint = try Checkpoint.load(directory.optimizerURL)
    #expect(checkpoint.metaParameters.flat == whole.theta.flat)
    #expect(checkpoint.metaTrainingStep == 3)
  }

  @Test func evaluationsMeasureTheSpeedupAndKeepTheBestTheta() throws {
    let directory = Self.temporaryDirectory()
    try directory.create()
    let suite = directory.url.appendingPathComponent("suite.yaml")
    try """
    steps: 6
    seeds: 1
    tasks:
      - task: mlp-fashion8-relu32
    """.write(to: suite, atomically: true, encoding: .utf8)
    let configuration = try Self.configuration {
      $0.learnedOptimizer = .init(kind: .scheduledAdam)
      $0.evaluation = .init(
        every: 1, steps: 5, seeds: 1, suite: suite.path, grid: [0.01, 0.1],
        cache: directory.url.appendingPathComponent("cache").path)
    }
    let run = RunDirectory(url: directory.url.appendingPathComponent("run"))
    _ = try metaTrain(configuration, directory: run, resume: false)
    let records = try String(contentsOf: run.metricsURL, encoding: .utf8).split(separator: "\n")
      .compactMap { try? JSONDecoder().decode(EvaluationRecord.self, from: Data($0.utf8)) }
    #expect(records.map(\.step) == [0, 1, 2, 3])
    let medians = records.compactMap { $0.speedups?.median }
    #expect(medians.count == 4 && medians.allSatisfy { $0 >= 0 })
    #expect(run.bestSpeedup(by: .median) == medians.max())
    let best = try Checkpoint.load(run.bestOptimizerURL)
    #expect(best.metaTrainingStep == records[medians.firstIndex(of: medians.max()!)!].step)
    // 1 θ run per evaluation plus Adam's 2 rates, cached once for all four.
    let cached = try FileManager.default.contentsOfDirectory(
      atPath: directory.url.appendingPathComponent("cache").path)
    #expect(cached.count == 4 + 2)
  }

  @Test func theSelectionStatisticRanksByItsOwnValue() throws {
    // One task much slower: the median does not see it, the geometric mean does.
    let uneven = try #require(SpeedupStatistics([4, 4, 0.25]))
    let even = try #require(SpeedupStatistics([2, 2, 2]))
    typealias Statistic = MetaTrainingConfiguration.EvaluationSection.SelectionStatistic
    #expect(Statistic.median.value(of: uneven)! > Statistic.median.value(of: even)!)
    #expect(abs(Statistic.geometricMean.value(of: uneven)! - pow(4, 1.0 / 3)) < 1e-12)
    #expect(Statistic.geometricMean.value(of: uneven)! < Statistic.geometricMean.value(of: even)!)
    #expect(Statistic.iqm.value(of: even) == 2)
    // A diverged task (speedup 0) counts as the floor, not as minus infinity.
    let diverged = try #require(SpeedupStatistics([0, 1]))
    #expect(abs(diverged.geometricMean! - 0.1) < 1e-12)
    let parsed = try MetaTrainingConfiguration(yaml: "evaluation: {selection: geometric-mean}")
    #expect(parsed.evaluation.selection == .geometricMean)
    #expect(try MetaTrainingConfiguration(yaml: "").evaluation.selection == nil)
  }

  @Test func frozenMetaParametersKeepTheirValuesWhileTheOthersMove() throws {
    let configuration = try Self.configuration {
      $0.learnedOptimizer = .init(kind: .scheduledAdam)
      $0.estimator.frozen = ["residual", "log_learning_rate"]
    }
    let start = ScheduledAdamLOpt.initialMetaParameters(
      for: configuration.learnedOptimizer.scheduledAdam,
      key: MetaRandomness(seed: configuration.seed).key.folding(in: 0))
    let theta = try metaTrain(configuration, directory: Self.temporaryDirectory(), resume: false)
      .theta
    for entry in theta.layout.entries {
      let moved = theta[entry.name] != start[entry.name]
      let frozen = entry.name.hasPrefix("residual") || entry.name == "log_learning_rate"
      // The controller's zero-initialised last layer moves; its first layer only through it.
      if frozen || entry.name.hasSuffix("1") { #expect(moved != frozen, "\(entry.name)") }
    }
    let typo = try Self.configuration {
      $0.learnedOptimizer = .init(kind: .scheduledAdam)
      $0.estimator.frozen = ["residuals"]
    }
    #expect(throws: MetaTrainingError.self) {
      try metaTrain(typo, directory: Self.temporaryDirectory(), resume: false)
    }
  }

  @Test func aDamagedCheckpointFallsBackToThePreviousOne() throws {
    let whole = try metaTrain(
      Self.configuration(), directory: Self.temporaryDirectory(), resume: false)
    let directory = Self.temporaryDirectory()
    _ = try metaTrain(
      Self.configuration {
        $0.outer.steps = 2
        $0.checkpointSeconds = 1e-9
      }, directory: directory, resume: false)
    #expect(directory.checkpointSteps() == [2, 1])
    let newest = directory.stateURL(step: 2)
    var bytes = try Data(contentsOf: newest)
    bytes[bytes.count - 3] ^= 0xff
    try bytes.write(to: newest)
    let warnings = WarningLog()
    let resumed = try metaTrain(
      Self.configuration(), directory: directory, resume: true,
      observer: MetaTrainingObserver(warn: { warnings.append($0) }))
    #expect(warnings.messages.count == 1)
    #expect(warnings.messages.first?.contains("checksum") == true)
    #expect(resumed.theta == whole.theta)
  }

  @Test func resumingNothingOrRestartingARunIsAnError() throws {
    let directory = Self.temporaryDirectory()
    #expect(throws: MetaTrainingError.nothingToResume(directory.url.path)) {
      try metaTrain(Self.configuration(), directory: directory, resume: true)
    }
    _ = try metaTrain(
      Self.configuration { $0.outer.steps = 1 }, directory: directory, resume: false)
    #expect(throws: MetaTrainingError.self) {
      try metaTrain(Self.configuration(), directory: directory, resume: false)
    }
    // Resuming under other trajectory settings finds no compatible checkpoint.
    #expect(throws: MetaTrainingError.nothingToResume(directory.url.path)) {
      try metaTrain(
        Self.configuration { $0.estimator.standardDeviation = 0.02 }, directory: directory,
        resume: true)
    }
  }

  /// Lanes 1 and 5 diverge in both copies and lane 6 in one, by construction (the script
  /// names their episodes); the other five lanes are a quadratic with a known objective.
  static let divergence = (
    theta: [Float(0.8), -0.3, 0.5], pairs: 8, sigma: Float(0.1), diverged: [1, 5, 6],
    randomness: MetaRandomness(seed: 3),
    quadratic: QuadraticProblem(a: [1, 2, 0.5], b: [0, 0.2, -0.1])
  )

  /// One outer step of the scripted problem: the record and the trainer's ĝ.
  static func divergedStep() throws -> (record: OuterStepRecord, gradient: [Float]) {
    let d = divergence
    let fingerprint = { (lane: Int) in
      ScriptedDivergenceProblem.fingerprint(d.randomness.episode(step: 0, lane: lane))
    }
    let problem = ScriptedDivergenceProblem(
      quadratic: d.quadratic, base: d.theta,
      script: [fingerprint(1): .both, fingerprint(5): .both, fingerprint(6): .above])
    #expect(Set((0..<d.pairs).map(fingerprint)).count == d.pairs, "episodes are told apart")
    let settings = EstimatorSettings(
      standardDeviation: d.sigma, pairs: d.pairs, usesSign: false, objective: .average)
    let trainer = MetaTrainer(
      estimator: try GradientEstimator(
        problem: problem, settings: settings,
        truncation: TruncationSchedule(kind: .constant, length: 2), randomness: d.randomness),
      outer: OuterSettings(steps: 5, learningRate: 0.1, gradientClip: 1e6),
      families: FamilySettings(),
      theta: ParameterSet(layout: problem.metaParameterLayout, flat: Tensor(d.theta)),
      pool: WorkerPool(threads: 2))
    let record = try trainer.runStep()
    return (record, trainer.gradient.withUnsafeBufferPointer { Array($0) })
  }

  /// ĝ = Σ over `lanes` of Δᵢ εᵢ / (2σN), N = every lane of the step (diverged ones too), and
  /// the lanes' mean objective; Δᵢ from the quadratic, εᵢ regenerated from the seed.
  static func expectedGradient(lanes: [Int], count: Int) -> (gradient: [Double], loss: Double) {
    let d = divergence
    var gradient = [Double](repeating: 0, count: d.theta.count)
    var loss = 0.0
    for lane in lanes {
      let key = d.randomness.noise(step: 0, lane: lane)
      let epsilon = d.theta.indices.map { key.normal(at: $0) }
      let plus = d.quadratic.value(zip(d.theta, epsilon).map { $0 + d.sigma * $1 })
      let minus = d.quadratic.value(zip(d.theta, epsilon).map { $0 - d.sigma * $1 })
      for j in gradient.indices {
        gradient[j] +=
          Double(plus - minus) * Double(epsilon[j]) / Double(2 * d.sigma)
          / Double(count)
      }
      loss += Double(plus + minus) / 2 / Double(lanes.count)
    }
    return (gradient, loss)
  }

  static func matches(_ gradient: [Float], _ expected: [Double]) -> Bool {
    zip(gradient, expected).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) }
  }

  @Test func divergedLanesContributeNothing() throws {
    let d = Self.divergence
    let (record, gradient) = try Self.divergedStep()
    #expect(record.divergedLanes == d.diverged.count)
    let finite = (0..<d.pairs).filter { !d.diverged.contains($0) }
    let expected = Self.expectedGradient(lanes: finite, count: d.pairs)
    #expect(Self.matches(gradient, expected.gradient), "ĝ \(gradient) vs \(expected.gradient)")
    #expect(abs(Double(try #require(record.metaLoss)) - expected.loss) < 1e-5)
    #expect(gradient.contains { $0 != 0 })
  }

  @Test func aLeakingDivergedLaneWouldBeSeen() throws {
    // Negative controls: ĝ differs from what a diverged lane leaking its ε (scored by the
    // objective it would have had) or an N counting only finite lanes would give.
    let d = Self.divergence
    let (_, gradient) = try Self.divergedStep()
    let finite = (0..<d.pairs).filter { !d.diverged.contains($0) }
    withKnownIssue("every lane's Δε counted") {
      let leaked = Self.expectedGradient(lanes: Array(0..<d.pairs), count: d.pairs).gradient
      #expect(Self.matches(gradient, leaked))
    }
    withKnownIssue("N = finite lanes") {
      let rescaled = Self.expectedGradient(lanes: finite, count: finite.count).gradient
      #expect(Self.matches(gradient, rescaled))
    }
  }

  @Test func aReportFlaggedDivergedContributesNothingEvenWithFiniteObjectives() {
    // A report from another process can carry finite objectives with the flag set.
    let settings = EstimatorSettings(standardDeviation: 0.1, pairs: 2, usesSign: false)
    let randomness = MetaRandomness(seed: 11)
    let layout = ParameterLayout([("theta", [3])])
    var assembler = GradientAssembler(settings: settings, randomness: randomness, count: 3)
    var gradient = ParameterSet(layout: layout)
    let reports = [
      LaneReport(lane: 0, plus: 2, minus: 1, episodeStart: 0, diverged: false, innerSteps: 2),
      LaneReport(lane: 1, plus: 5, minus: 1, episodeStart: 0, diverged: true, innerSteps: 2),
    ]
    assembler.gradient(reports: reports, step: 0, into: &gradient)
    let key = randomness.noise(step: 0, lane: 0)
    for j in 0..<3 {
      // Δ = 1, N = 2: ĝⱼ = ε₀ⱼ / (2σ · 2).
      let expected = key.normal(at: j) / (2 * 0.1 * 2)
      #expect(abs(gradient.flat.scalars[j] - expected) <= 1e-6 * max(1, abs(expected)))
    }
  }

  @Test func theShippedConfigurationsParse() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    for name in [
      "fast-mlp", "velo-small", "scheduled-adam", "scheduled-adam-phase2", "scheduled-orthogonal",
      "scheduled-orthogonal-broad",
    ] {
      let text = try String(
        contentsOf: root.appendingPathComponent("configs/\(name).yaml"), encoding: .utf8)
      let configuration = try MetaTrainingConfiguration(yaml: text)
      _ = try configuration.taskSource()
    }
  }

  @Test func unknownKeysAndBadValuesAreNamed() {
    #expect(throws: TaskSpecError.unknownField("estimator.sigma")) {
      try MetaTrainingConfiguration(yaml: "estimator: {sigma: 0.1}")
    }
    do {
      _ = try MetaTrainingConfiguration(
        yaml: "estimator: {pairs: 0, standardDeviation: -1}\nouter: {accumulation: 0}")
      Issue.record("accepted invalid settings")
    } catch let error as MetaTrainingError {
      let text = error.description
      #expect(text.contains("estimator.pairs") && text.contains("standardDeviation"))
      #expect(text.contains("outer.accumulation"))
    } catch {
      Issue.record("unexpected error \(error)")
    }
    #expect(throws: TaskSpecError.self) {
      try MetaTrainingConfiguration(yaml: "tasks: {list: [{task: no-such-task}]}").taskSource()
    }
  }
}

/// Collects the outer steps' records from the observer (called on the calling thread).
final class StepLog: @unchecked Sendable {
  private(set) var records: [OuterStepRecord] = []
  func append(_ record: OuterStepRecord) { records.append(record) }
}

/// Collects warnings from the observer (called on the calling thread).
final class WarningLog: @unchecked Sendable {
  private(set) var messages: [String] = []
  func append(_ message: String) { messages.append(message) }
}

/// The outer optimizer's learning-rate schedule.
@Suite struct OuterOptimizerTests {
  @Test func theLearningRateFollowsTheSchedule() {
    let layout = ParameterLayout([("theta", [1])])
    let schedule = LearningRateSchedule(decay: .cosine)
    var outer = OuterOptimizer(
      settings: OuterSettings(steps: 2, learningRate: 0.1, schedule: schedule), layout: layout)
    var theta = ParameterSet(layout: layout)
    for _ in 0..<2 {
      var gradient = ParameterSet(layout: layout, repeating: 1)
      #expect(outer.apply(&gradient, to: &theta))
    }
    // With a constant gradient each Adam step moves θ by its learning rate (up to ε).
    let expected =
      -0.1
      * (schedule.factor(step: 0, totalSteps: 2)
        + schedule.factor(step: 1, totalSteps: 2))
    #expect(abs(theta.flat.scalars[0] - expected) < 1e-5)
    #expect(schedule.factor(step: 1, totalSteps: 2) < 1)
  }

  @Test func onlyAConstantRateLetsAResumeChangeTheLength() throws {
    var constant = MetaTrainingConfiguration()
    var longer = constant
    longer.outer.steps += 100
    #expect(constant.trajectoryHash == longer.trajectoryHash)
    constant.outer.schedule = LearningRateSchedule(decay: .cosine)
    longer.outer.schedule = constant.outer.schedule
    #expect(constant.trajectoryHash != longer.trajectoryHash)
  }
}
