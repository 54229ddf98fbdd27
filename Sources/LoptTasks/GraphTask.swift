import LoptCore
import LoptData
import LoptNN

/// A task that replays a static tape over batches from samplers: every family's task.
///
/// Training batches come from the training sampler; evaluation batches from separate samplers
/// over every split with a fixed key, so repeated evaluations see the same examples. The graph
/// may be built for fewer examples than the sampler gives (a reduced-batch augmentation): each
/// batch is then truncated to its first examples.
public final class GraphTask<Sampler: BatchSampler>: TrainingTask {
  /// The names and shapes of the trainable tensors.
  public let layout: ParameterLayout
  /// This task's loss normaliser.
  public let normalizer: LossNormalizer
  private let graph: Graph
  private let inputs: GraphValue
  private let targets: GraphValue?
  private let mask: GraphValue?
  private let logits: GraphValue?
  private let lossOffset: Float
  private let preparation: BatchPreparation
  private let roundsInputsToBFloat16: Bool
  private let key: RandomKey
  private var training: Sampler
  private var evaluation: [DatasetSplit: Sampler]
  private var batch: Batch
  private let inputScratch: UnsafeMutableBufferPointer<Float>
  private let targetScratch: UnsafeMutableBufferPointer<Float>

  /// Builds the graph of `model` and takes over the samplers.
  init(
    model: TaskModel, training: Sampler, evaluation: [DatasetSplit: Sampler], key: RandomKey,
    roundsInputsToBFloat16: Bool = false
  ) throws {
    graph = try model.builder.graph.build(loss: model.loss)
    layout = graph.layout
    normalizer = model.normalizer
    inputs = model.inputs
    targets = model.targets
    mask = model.mask
    logits = model.logits
    lossOffset = model.lossOffset
    preparation = model.preparation
    self.roundsInputsToBFloat16 = roundsInputsToBFloat16
    self.key = key
    self.training = training
    self.evaluation = evaluation
    batch = training.makeBatch()
    precondition(
      batch.inputs.count >= inputs.count && batch.targets.count >= (targets?.count ?? 0),
      "the sampler's batches are smaller than the model's inputs \(inputs.shape)")
    inputScratch = .allocate(capacity: inputs.count)
    targetScratch = .allocate(capacity: max(targets?.count ?? 1, 1))
  }

  deinit {
    inputScratch.deallocate()
    targetScratch.deallocate()
  }

  /// Persistent non-trainable state (BatchNorm running statistics).
  public var modelState: ParameterSet {
    get { graph.modelState }
    set { graph.modelState = newValue }
  }

  /// Fresh parameters from each layer's initializer.
  public func initialParameters(key: RandomKey) -> ParameterSet {
    graph.initialParameters(key: key)
  }

  /// The loss and gradient on the training batch of `step`.
  ///
  /// - Complexity: allocates nothing.
  public func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    let stepKey = key.folding(in: UInt64(step))
    training.fill(&batch, step: step)
    load(key: stepKey)
    return graph.lossAndGradient(parameters, into: &gradients, key: stepKey) + lossOffset
  }

  /// The training-mode loss on the batch of `step`, without a gradient.
  public func loss(_ parameters: ParameterSet, step: Int) -> Float {
    let stepKey = key.folding(in: UInt64(step))
    training.fill(&batch, step: step)
    load(key: stepKey)
    return graph.forward(parameters, isTraining: true, key: stepKey) + lossOffset
  }

  /// The mean loss over the first `batches` batches of `split`, in evaluation mode, and a
  /// classifier's accuracy on them.
  public func evaluation(
    _ parameters: ParameterSet, split: DatasetSplit, batches: Int
  ) -> EvaluationMetrics {
    precondition(evaluation[split] != nil, "no \(split) data was given to this task")
    var total: Float = 0
    var correct = 0
    for step in 0..<batches {
      let stepKey = key.folding(in: UInt64.max - UInt64(step))
      evaluation[split]!.fill(&batch, step: step)
      load(key: stepKey)
      total += graph.forward(parameters, key: stepKey) + lossOffset
      correct += correctPredictions()
    }
    let examples = (targets?.count ?? 0) * batches
    return EvaluationMetrics(
      loss: batches > 0 ? total / Float(batches) : 0,
      accuracy: logits != nil && examples > 0 ? Float(correct) / Float(examples) : nil)
  }

  /// How many examples of the last forward pass have their label as the largest logit (0
  /// unless the task is a classifier).
  private func correctPredictions() -> Int {
    guard let logits, let targets else { return 0 }
    let classes = logits.count / max(targets.count, 1)
    return graph.withValue(logits) { scores in
      graph.withValue(targets) { labels in
        var correct = 0
        for row in 0..<labels.count {
          let first = row * classes
          var best = first
          for index in first..<(first + classes) where scores[index] > scores[best] { best = index }
          if Float(best - first) == labels[row] { correct += 1 }
        }
        return correct
      }
    }
  }

  /// The family's normaliser applied to `loss`.
  public func normalize(_ loss: Float) -> Float { normalizer(loss) }

  /// Copies the batch's first examples into the graph, prepared for the family.
  private func load(key: RandomKey) {
    let x = inputScratch
    batch.inputs.withUnsafeBufferPointer { source in
      switch preparation {
      case .classification:
        x.baseAddress!.update(from: source.baseAddress!, count: x.count)
      case .reconstruction(let isCentered, let noiseWidth):
        if noiseWidth > 0 {
          key.folding(in: 0xDA7A).fillUniform(x, low: 0, high: noiseWidth)
        } else {
          x.update(repeating: 0)
        }
        for i in 0..<x.count {
          let v = source[i] + x[i]
          x[i] = isCentered ? 2 * v - 1 : v
        }
      case .language(let vocabularySize):
        for i in 0..<x.count { x[i] = Self.fold(source[i], vocabularySize: vocabularySize) }
      }
    }
    if roundsInputsToBFloat16 { roundToBFloat16(x) }
    graph.setValue(inputs, from: UnsafeBufferPointer(x))
    guard let targets else { return }
    let y = targetScratch
    batch.targets.withUnsafeBufferPointer { source in
      if case .language(let vocabularySize) = preparation {
        for i in 0..<y.count { y[i] = Self.fold(source[i], vocabularySize: vocabularySize) }
      } else {
        y.baseAddress!.update(from: source.baseAddress!, count: y.count)
      }
    }
    graph.setValue(targets, from: UnsafeBufferPointer(y))
    guard let mask else { return }
    for i in 0..<y.count { y[i] = y[i] == 0 ? 0 : 1 }  // token 0 is padding
    graph.setValue(mask, from: UnsafeBufferPointer(y))
  }

  /// VeLO's vocabulary folding: a token `t ≥ V` becomes `1 + t mod (V − 1)`.
  ///
  /// The reference folds `t > V` (docs/meta-training-method.md §9.3); folding `t = V` as well keeps
  /// every token inside a `V`-row table.
  static func fold(_ token: Float, vocabularySize: Int) -> Float {
    let t = Int(token)
    return t < vocabularySize ? token : Float(1 + t % (vocabularySize - 1))
  }
}

/// An MLP classifier over flattened examples: a ``GraphTask`` of the image-MLP family.
public typealias MLPClassifier<Sampler: BatchSampler> = GraphTask<Sampler>

extension GraphTask {
  /// An MLP classifier `flatten → [Linear → activation] × depth → Linear(classes)` with mean
  /// softmax cross-entropy, over batches from samplers.
  ///
  /// - Parameters:
  ///   - exampleShape: the shape of one input example (flattened by the model).
  ///   - classCount: the number of classes.
  ///   - hiddenWidths: one entry per hidden layer (empty: a linear classifier).
  ///   - activation: the non-linearity after each hidden layer.
  ///   - batchSize: examples per step; every sampler must produce batches of this size.
  ///   - training: the training batches.
  ///   - evaluation: batches for ``evaluation(_:split:batches:)``, by split.
  /// - Throws: `LoptNN.GraphError` when the sizes do not make a valid model.
  public convenience init(
    exampleShape: [Int], classCount: Int, hiddenWidths: [Int], activation: Activation = .relu,
    batchSize: Int, training: Sampler, evaluation: [DatasetSplit: Sampler] = [:]
  ) throws {
    var m = ModelBuilder(batchSize: batchSize, weights: .lecunNormal, activation: activation)
    let model = m.classifier(
      exampleShape: exampleShape, classCount: classCount,
      normalizer: .classification(classCount: Float(classCount))
    ) { m, x in
      m.mlp(
        x.reshaped(to: [batchSize, exampleShape.reduce(1, *)]), hiddenWidths: hiddenWidths,
        outputCount: classCount, name: "mlp")
    }
    try self.init(
      model: model, training: training, evaluation: evaluation, key: RandomKey(seed: 0))
  }
}

extension GraphTask where Sampler == MinibatchSampler {
  /// An MLP on an image data set: shuffled training batches from `splits[.train]`, evaluation
  /// on every split given.
  ///
  /// - Parameters:
  ///   - splits: the data sets by split; `.train` is required.
  ///   - hiddenWidths: one entry per hidden layer.
  ///   - activation: the non-linearity after each hidden layer.
  ///   - batchSize: examples per step.
  ///   - key: fixes the order of training and evaluation batches.
  /// - Throws: `LoptNN.GraphError` when the sizes do not make a valid model.
  public convenience init(
    splits: [DatasetSplit: ImageDataset], hiddenWidths: [Int], activation: Activation = .relu,
    batchSize: Int, key: RandomKey
  ) throws {
    guard let train = splits[.train] else { preconditionFailure("a training split is required") }
    try self.init(
      exampleShape: train.imageShape, classCount: train.classCount, hiddenWidths: hiddenWidths,
      activation: activation, batchSize: batchSize,
      training: MinibatchSampler(dataset: train, batchSize: batchSize, key: key),
      evaluation: splits.mapValues {
        MinibatchSampler(dataset: $0, batchSize: batchSize, key: key.folding(in: 1))
      })
  }
}

/// Rounds every element to the nearest bfloat16 value (ties to even), in place.
func roundToBFloat16(_ buffer: UnsafeMutableBufferPointer<Float>) {
  for i in 0..<buffer.count { buffer[i] = roundToBFloat16(buffer[i]) }
}

/// The nearest bfloat16 value to `x` (ties to even); NaN stays NaN.
func roundToBFloat16(_ x: Float) -> Float {
  guard !x.isNaN else { return x }
  let bits = x.bitPattern
  let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
  return Float(bitPattern: (bits &+ rounding) & 0xFFFF_0000)
}
