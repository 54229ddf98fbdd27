import LoptCore
import LoptData
import LoptNN
import LoptOptimizers
import LoptTraining
import Testing

@testable import LoptTasks

@Suite(.timeLimit(.minutes(1))) struct TaskFamilyTests {
  @Test(arguments: TaskFamily.allCases)
  func trainsToAClearlyLowerLossWithAdam(family: TaskFamily) throws {
    let spec = TinySpecs.spec(family)
    let task = try spec.makeTask()
    let steps = family == .resnet || family == .vit ? 150 : 250
    let result = try train(
      task, optimizer: Adam(learningRate: 3e-3), steps: steps, key: spec.initializationKey)
    let first = result.losses.prefix(5).reduce(0, +) / 5
    let last = result.losses.suffix(20).reduce(0, +) / 20
    let drop: Float = family == .mlpVAE ? 0.9 : 0.8
    #expect(last < drop * first, "\(family): loss \(first) → \(last)")
  }

  @Test(arguments: TaskFamily.allCases)
  func rebuildsBitIdentically(family: TaskFamily) throws {
    let spec = TinySpecs.spec(family, seed: 9)
    let runs = try (0..<2).map { _ -> ([Float], [Float]) in
      let task = try spec.makeTask()
      let parameters = task.initialParameters(key: spec.initializationKey)
      var gradients = parameters.zerosLike()
      var losses: [Float] = []
      var flat: [Float] = []
      for step in 0..<2 {
        losses.append(task.lossAndGradient(parameters, step: step, into: &gradients))
        flat += gradients.flat.scalars
      }
      return (losses, flat)
    }
    #expect(runs[0].0 == runs[1].0)
    #expect(runs[0].1 == runs[1].1)
  }

  @Test(arguments: TaskFamily.allCases)
  func samplesAreValidDeterministicAndRoundTripThroughJSON(family: TaskFamily) throws {
    for seed in 0..<20 as Range<UInt64> {
      var spec = family.sample(key: RandomKey(seed: seed))
      spec.augmentation = AugmentationSpec.sample(key: RandomKey(seed: seed + 100))
      #expect(spec == family.sample(key: RandomKey(seed: seed)).with(spec.augmentation))
      try spec.validate()
      let json = try spec.json()
      let decoded = try TaskSpec(json: json)
      #expect(decoded == spec)
      #expect(try decoded.json() == json)
      #expect(try spec.cost().flops > 0)
    }
  }

  @Test(arguments: TaskFamily.allCases)
  func classifiersReportAnAccuracyAndOtherFamiliesNone(family: TaskFamily) throws {
    let spec = TinySpecs.spec(family)
    let task = try spec.makeTask()
    let metrics = task.evaluation(
      task.initialParameters(key: spec.initializationKey), split: .valid, batches: 2)
    let isClassifier = [.imageMLP, .imageConv, .vit, .resnet].contains(family)
    #expect((metrics.accuracy != nil) == isClassifier, "\(family): \(metrics)")
    #expect(metrics.accuracy.map { 0...1 ~= $0 } ?? true)
    #expect(
      metrics.loss
        == task.evaluate(
          task.initialParameters(key: spec.initializationKey), split: .valid, batches: 2))
  }

  @Test func sampledImageSizesAndBatchesStayInTheScaledRanges() {
    for seed in 0..<200 as Range<UInt64> {
      let spec = TaskFamily.imageMLP.sample(key: RandomKey(seed: seed))
      #expect((4...16).contains(spec.data.imageSize!))
      #expect((4...128).contains(spec.batchSize))
      #expect((0...4).contains(spec.model.hiddenWidths!.count))
    }
  }

  @Test func namedTasksAreValid() throws {
    #expect(TaskSpec.named.count == 8)
    for (name, spec) in TaskSpec.named {
      #expect(throws: Never.self, "\(name)") { try spec.validate() }
    }
    let celo = try TaskSpec(named: "mlp-fashion8-relu32")
    #expect(celo.model.hiddenWidths == [32] && celo.batchSize == 64)
    #expect(celo.data == DataSpec(dataset: "fashion8", imageSize: 8))
    #expect(throws: TaskSpecError.self) { try TaskSpec(named: "nope") }
  }

  @Test func namedCeloTaskBuildsAndHasTheExpectedLayout() throws {
    let task = try TaskSpec(named: "mlp-fashion8-relu32").makeTask()
    #expect(task.layout.totalCount == 64 * 32 + 32 + 32 * 10 + 10)
  }

  @Test(arguments: TaskFamily.allCases)
  func costCountsEveryParameter(family: TaskFamily) throws {
    for seed in 0..<5 as Range<UInt64> {
      let spec = family.sample(key: RandomKey(seed: seed))
      let parameters = try spec.cost().parameters
      let model = try spec.makeModel()  // the graph alone: no data to load
      let graph = try model.builder.graph.build(loss: model.loss)
      #expect(Int(parameters) == graph.layout.totalCount, "\(spec)")
    }
  }

  @Test func costGrowsWithBatchSize() throws {
    var spec = TinySpecs.spec(.imageConv)
    let small = try spec.cost()
    spec.batchSize *= 2
    let large = try spec.cost()
    #expect(large.flops == 2 * small.flops)
    #expect(large.parameters == small.parameters)
  }
}

extension TaskSpec {
  func with(_ augmentation: AugmentationSpec) -> TaskSpec {
    var spec = self
    spec.augmentation = augmentation
    return spec
  }
}
