import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks
import LoptTraining
import Testing

@Suite(.timeLimit(.minutes(1))) struct MLPClassifierTests {
  static func digitsTask(seed: UInt64) throws -> MLPClassifier<MinibatchSampler> {
    var splits: [DatasetSplit: ImageDataset] = [:]
    for split in DatasetSplit.allCases {
      splits[split] = try ImageDataset.load(.digits, split: split)
    }
    return try MLPClassifier(
      splits: splits, hiddenWidths: [16], batchSize: 32, key: RandomKey(seed: seed))
  }

  @Test func learnsTheDigits() throws {
    let task = try Self.digitsTask(seed: 1)
    let result = try train(
      task, optimizer: Adam(learningRate: 3e-3), steps: 300, key: RandomKey(seed: 2))
    let before = task.evaluate(
      task.initialParameters(key: RandomKey(seed: 2)), split: .valid, batches: 4)
    let after = task.evaluate(result.parameters, split: .valid, batches: 4)
    #expect(before > 2)  // ≈ ln 10 at initialisation
    #expect(after < 0.5, "validation loss \(after) after 300 steps")
  }

  @Test func sameSeedsGiveBitwiseIdenticalRuns() throws {
    let runs = try (0..<2).map { _ in
      try train(Self.digitsTask(seed: 7), optimizer: Adam(), steps: 20, key: RandomKey(seed: 8))
    }
    #expect(runs[0].losses == runs[1].losses)
    #expect(runs[0].parameters == runs[1].parameters)
  }

  /// A classifier whose only non-zero parameter is the output bias of one class predicts that
  /// class for every example: its accuracy is the share of that class among the batches' labels.
  @Test func accuracyIsTheShareOfCorrectArgmaxPredictions() throws {
    let key = RandomKey(seed: 3)
    let sampler = SyntheticBatchSampler(
      exampleShape: [6], classCount: 4, batchSize: 8, batchCount: 3, key: key)
    let task = try MLPClassifier(
      exampleShape: [6], classCount: 4, hiddenWidths: [5], batchSize: 8, training: sampler,
      evaluation: [.valid: sampler])
    var copy = sampler
    var batch = copy.makeBatch()
    var labels: [Float] = []
    for step in 0..<3 {
      copy.fill(&batch, step: step)
      labels += batch.targets.scalars
    }
    for predicted in 0..<4 {
      var parameters = ParameterSet(layout: task.layout)
      var bias = [Float](repeating: 0, count: 4)
      bias[predicted] = 1
      parameters["mlp/linear_1/b"] = Tensor(shape: [4], scalars: bias)
      let metrics = task.evaluation(parameters, split: .valid, batches: 3)
      let share = Float(labels.filter { $0 == Float(predicted) }.count) / Float(labels.count)
      #expect(metrics.accuracy == share, "class \(predicted)")
    }
  }

  @Test func layoutNamesEveryLayer() throws {
    let task = try Self.digitsTask(seed: 0)
    #expect(
      task.layout.names == ["mlp/linear_0/w", "mlp/linear_0/b", "mlp/linear_1/w", "mlp/linear_1/b"])
    #expect(task.layout.entries[0].shape == [64, 16])
    #expect(task.layout.totalCount == 64 * 16 + 16 + 16 * 10 + 10)
  }
}
