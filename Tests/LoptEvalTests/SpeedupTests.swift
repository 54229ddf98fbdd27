import Foundation
import LoptEval
import LoptOptimizers
import LoptTasks
import Testing

@Suite(.timeLimit(.minutes(1))) struct SpeedupTests {
  /// A linear envelope from 10 at step 0 to 0 at step 1022 (two steps per resampled interval).
  static let linear = SpeedupNormalizer(envelope: (0..<1023).map { 10 - Float($0) * 10 / 1022 })

  @Test func interpolatesTheInvertedEnvelope() {
    let normalizer = Self.linear
    #expect(normalizer.losses.count == 512 && normalizer.horizon == 1022)
    #expect(abs(normalizer.stepsToReach(5) - 511) < 1e-3)
    #expect(abs(normalizer.stepsToReach(2.5) - 766.5) < 1e-2)
    #expect(abs(normalizer.speedup(finalLoss: 5, lastStep: 511) - 1) < 1e-5)
  }

  @Test func capsBelowTheMinimumAndAboveTheStartAndForNonFiniteLosses() {
    let normalizer = Self.linear
    #expect(normalizer.stepsToReach(-1) == 1022)
    #expect(normalizer.stepsToReach(10) == 0 && normalizer.stepsToReach(11) == 0)
    #expect(normalizer.stepsToReach(.nan) == 0)
    #expect(normalizer.stepsToReach(.infinity) == 0 && normalizer.stepsToReach(-.infinity) == 0)
    #expect(normalizer.speedup(finalLoss: -1, lastStep: 511) == 2)
  }

  @Test func theEnvelopeIsTheRunningMinimumOfTheBestRate() {
    // Two rates whose curves cross and bounce: the envelope takes the lower and never rises.
    let records = [Float(0.1), 1].flatMap { lr in
      (0..<2).map { seed in
        RunRecord(
          key: RunKey(task: "t", optimizer: "o", learningRate: lr, seed: UInt64(seed), steps: 600),
          losses: (0..<600).map { step in
            let s = Float(step)
            return lr == 1 ? 5 - s / 200 + 0.5 * sin(s / 7) : 4 - s / 400
          }, divergedAtStep: nil, seconds: 0)
      }
    }
    let normalizer = SpeedupNormalizer(summary: SweepSummary(records: records))!
    let losses = normalizer.losses
    #expect(losses.count == 512)
    #expect(zip(losses, losses.dropFirst()).allSatisfy { $0 >= $1 })
    // It starts on the slow rate (4 < 5) and ends below it (2.5025 at step 599) on the fast one.
    #expect(losses[0] == 4 && losses[511] < 2.4 && losses[511] > 1.4)
    let steps = normalizer.steps
    #expect(steps.first == 0 && steps.last == 599)
  }

  @Test func aSweepWhereEveryRateDivergedHasNoNormalizer() {
    let key = RunKey(task: "t", optimizer: "o", learningRate: 1, seed: 0, steps: 5)
    let summary = SweepSummary(records: [
      RunRecord(key: key, losses: [1], divergedAtStep: 1, seconds: 0)
    ])
    #expect(SpeedupNormalizer(summary: summary) == nil)
  }

  @Test func statisticsInterpolatePercentilesAndTrimTheIQM() throws {
    let s = try #require(SpeedupStatistics([4, 1, 3, 2, 100, 0.5, 0.25, 8]))
    #expect(s.count == 8 && abs(s.mean - 118.75 / 8) < 1e-12)
    #expect(s.median == 2.5 && s.percentile25 == 0.875 && abs(s.percentile75 - 5) < 1e-12)
    #expect(s.interquartileMean == 2.5)  // mean of 1, 2, 3, 4 after dropping two at each end
    #expect(s.fractionFaster == 5.0 / 8)
    #expect(SpeedupStatistics([]) == nil)
  }

  /// A 2-hidden-unit MLP on digits: each run takes a few milliseconds in a debug build.
  static let tinySuite = EvaluationSuite(
    name: "tiny", summary: nil, steps: nil, seeds: nil, firstSeed: 3,
    tasks: [
      .init(
        name: "mlp-digits",
        spec: TaskSpec(
          family: .imageMLP,
          model: {
            var m = ModelSpec(); m.hiddenWidths = [4]; return m
          }(),
          data: DataSpec(dataset: "digits", imageSize: 8), batchSize: 8, activation: .relu))
    ])

  static func adam(_ name: String = "adam") -> EvaluatedOptimizer {
    EvaluatedOptimizer(name: name, identity: "adam", kind: .tuned { Adam(learningRate: $0) })
  }

  @Test func tunedAdamScoresOneAgainstItsOwnEnvelopeAndSlowedAdamLess() throws {
    let (steps, multiple) = (40, 10)
    let grid: [Float] = [1e-3, 1e-2, 1e-1]
    let tuned = try Evaluation(
      suite: Self.tinySuite, optimizers: [Self.adam()], baselines: [Self.adam()], steps: steps,
      seeds: 2, learningRates: grid, baselineMultiple: multiple
    ).run(cache: nil)
    let run = try #require(tuned.tasks.first?.optimizers.first)
    let best = try #require(run.learningRate)
    // The tuned run is a prefix of the baseline's runs at the same rate and seeds, so its
    // final loss lies on the envelope at step T − 1 and A(L) falls in the resampled interval
    // around T − 1: the speedup is 1 to within one interval, horizon / 511, over T − 1.
    let interval = Double(steps * multiple - 1) / 511 / Double(steps - 1)
    let speedup = try #require(run.speedups["adam"])
    #expect(abs(speedup - 1) <= interval, "speedup \(speedup), tolerance \(interval)")
    #expect(run.lossRatio == 1)

    let slowed = EvaluatedOptimizer(
      name: "adam lr/10", identity: "adam fixed \(best / 10)",
      kind: .fixed(Adam(learningRate: best / 10)))
    let result = try Evaluation(
      suite: Self.tinySuite, optimizers: [slowed], baselines: [Self.adam()], steps: steps,
      seeds: 2, learningRates: grid, baselineMultiple: multiple
    ).run(cache: nil)
    let slowedRun = try #require(result.tasks.first?.optimizers.first)
    #expect(try #require(slowedRun.speedups["adam"]) < 1 - interval)
    #expect(try #require(slowedRun.lossRatio) > 1 && slowedRun.learningRate == nil)
  }
}
