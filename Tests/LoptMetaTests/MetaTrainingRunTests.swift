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

  @Test func oneAndTwoThreadsGiveTheSameTheta() throws {
    let one = try metaTrain(
      Self.configuration(), directory: Self.temporaryDirectory(), resume: false)
    let two = try metaTrain(
      Self.configuration { $0.threads = 2 }, directory: Self.temporaryDirectory(), resume: false)
    #expect(one.steps == 3)
    #expect(one.theta == two.theta)
    #expect(
      one.theta
        != (try metaTrain(
          Self.configuration { $0.seed = 1 }, directory: Self.temporaryDirectory(), resume: false))
        .theta)
  }

  @Test func aResumedRunEqualsAnUninterruptedOne() throws {
    let whole = try metaTrain(
      Self.configuration(), directory: Self.temporaryDirectory(), resume: false)
    let directory = Self.temporaryDirectory()
    _ = try metaTrain(
      Self.configuration { $0.outer.steps = 1 }, directory: directory, resume: false)
    let resumed = try metaTrain(Self.configuration(), directory: directory, resume: true)
    #expect(resumed.steps == 3)
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
    #expect(run.bestMedianSpeedup() == medians.max())
    let best = try Checkpoint.load(run.bestOptimizerURL)
    #expect(best.metaTrainingStep == records[medians.firstIndex(of: medians.max()!)!].step)
    // 1 θ run per evaluation plus Adam's 2 rates, cached once for all four.
    let cached = try FileManager.default.contentsOfDirectory(
      atPath: directory.url.appendingPathComponent("cache").path)
    #expect(cached.count == 4 + 2)
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

  @Test func divergedLanesContributeNothing() throws {
    let problem = QuadraticProblem(a: [1, 1], b: [0, 0], divergenceThreshold: 1.0)
    let settings = EstimatorSettings(
      standardDeviation: 0.5, pairs: 16, usesSign: false, objective: .average)
    let trainer = MetaTrainer(
      estimator: try GradientEstimator(
        problem: problem, settings: settings,
        truncation: TruncationSchedule(kind: .constant, length: 2),
        randomness: MetaRandomness(seed: 3)),
      outer: OuterSettings(steps: 5, learningRate: 0.1), families: FamilySettings(),
      theta: ParameterSet(layout: problem.metaParameterLayout, flat: Tensor([0.8, 0.8])),
      pool: WorkerPool(threads: 2))
    let record = try trainer.runStep()
    #expect(record.divergedLanes > 0 && record.divergedLanes < 16)
    #expect(record.metaLoss?.isFinite == true)
    #expect(trainer.theta.isFinite)
  }

  @Test func theShippedConfigurationsParse() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    for name in ["fast-mlp", "velo-small", "scheduled-adam"] {
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
