import LoptCore
import LoptEval
import LoptOptimizers
import LoptTasks
import LoptTraining
import Testing

/// Runs scored by their recomputed final loss (meta-training's periodic evaluation).
@Suite(.timeLimit(.minutes(1))) struct FinalLossRunTests {
  /// A digits MLP with two hidden units, seeded `seed`.
  static func spec(seed: UInt64, dataset: String = "digits") -> TaskSpec {
    var model = ModelSpec()
    model.hiddenWidths = [2]
    var spec = TaskSpec(
      family: .imageMLP, model: model, data: DataSpec(dataset: dataset, imageSize: 8),
      batchSize: 8, activation: .relu)
    spec.seed = seed
    return spec
  }

  @Test func theFinalLossIsTheMeanNormalisedLossOnTheBatchesAfterTheLastStep() throws {
    let run = FinalLossRun(spec: Self.spec(seed: 4), optimizer: Adam(learningRate: 0.01), steps: 5)
    // The formula written out: train 5 steps, then average the normalised loss of steps 5 and 6.
    let task = try run.spec.makeTask()
    let trained = try train(
      task, optimizer: Adam(learningRate: 0.01), steps: 5, key: run.spec.initializationKey)
    let expected =
      (task.normalize(task.loss(trained.parameters, step: 5))
        + task.normalize(task.loss(trained.parameters, step: 6))) / 2
    #expect(run.finalLoss(batches: 2) == expected)
    #expect(expected.isFinite)
  }

  @Test func aBatchGivesEveryRunsLossInOrderWhateverTheThreads() {
    let runs = (0..<4).map { seed in
      FinalLossRun(
        spec: Self.spec(seed: UInt64(seed)),
        optimizer: seed % 2 == 0 ? Adam(learningRate: 0.01) : Momentum(learningRate: 0.1),
        steps: 3 + seed)
    }
    let one = runs.map { $0.finalLoss(batches: 2) }
    // Distinct values, so a permutation would be seen.
    #expect(Set(one).count == runs.count)
    #expect(FinalLossRun.finalLosses(of: runs, batches: 2, threads: 1) == one)
    #expect(FinalLossRun.finalLosses(of: runs, batches: 2, threads: 2) == one)
  }

  @Test func aDivergedRunOrATaskThatCannotBeBuiltScoresNaN() {
    let diverged = FinalLossRun(
      spec: Self.spec(seed: 0), optimizer: Momentum(learningRate: 1e30), steps: 4)
    let unbuildable = FinalLossRun(
      spec: Self.spec(seed: 0, dataset: "no-such-dataset"), optimizer: Adam(learningRate: 0.01),
      steps: 4)
    let fine = FinalLossRun(spec: Self.spec(seed: 0), optimizer: Adam(learningRate: 0.01), steps: 4)
    let losses = FinalLossRun.finalLosses(
      of: [diverged, unbuildable, fine], batches: 2, threads: 2)
    #expect(losses[0].isNaN && losses[1].isNaN)
    #expect(losses[2].isFinite)
  }
}
