import LoptCore
import LoptData
import LoptNN

/// A multi-layer perceptron classifying flattened examples with mean softmax cross-entropy.
///
/// The model is `flatten → [Linear → activation] × depth → Linear(classes)`. Training batches
/// come from the training split's sampler; evaluation batches from separate samplers over
/// every split with a fixed key, so repeated evaluations see the same examples.
public final class MLPClassifier<Sampler: BatchSampler>: TrainingTask {
  /// The names and shapes of the trainable tensors.
  public let layout: ParameterLayout
  private let graph: Graph
  private let inputs: GraphValue
  private let labels: GraphValue
  private var training: Sampler
  private var evaluation: [DatasetSplit: Sampler]
  private var batch: Batch

  /// Builds the model over batches from samplers.
  ///
  /// - Parameters:
  ///   - exampleShape: the shape of one input example (flattened by the model).
  ///   - classCount: the number of classes.
  ///   - hiddenWidths: one entry per hidden layer (empty: a linear classifier).
  ///   - activation: the non-linearity after each hidden layer.
  ///   - batchSize: examples per step; every sampler must produce batches of this size.
  ///   - training: the training batches.
  ///   - evaluation: batches for ``evaluate(_:split:batches:)``, by split.
  /// - Throws: ``GraphError`` when the sizes do not make a valid model.
  public init(
    exampleShape: [Int], classCount: Int, hiddenWidths: [Int], activation: Activation = .relu,
    batchSize: Int, training: Sampler, evaluation: [DatasetSplit: Sampler] = [:]
  ) throws {
    var builder = GraphBuilder(batchSize: batchSize)
    inputs = builder.input(shape: [batchSize] + exampleShape)
    labels = builder.input(shape: [batchSize])
    let features = inputs.reshaped(to: [batchSize, exampleShape.reduce(1, *)])
    let logits = builder.mlp(
      features, hiddenWidths: hiddenWidths, outputCount: classCount, activation: activation,
      name: "mlp")
    let loss = builder.softmaxCrossEntropy(logits: logits, labels: labels)
    graph = try builder.build(loss: loss)
    layout = graph.layout
    self.training = training
    self.evaluation = evaluation
    batch = training.makeBatch()
    precondition(
      batch.inputs.count == inputs.count && batch.targets.count == labels.count,
      "the sampler's batches do not have \(batchSize) examples of shape \(exampleShape)")
  }

  /// Fresh parameters (LeCun-normal weights, zero biases).
  public func initialParameters(key: RandomKey) -> ParameterSet {
    graph.initialParameters(key: key)
  }

  /// The loss and gradient on the training batch of `step`.
  ///
  /// - Complexity: allocates nothing.
  public func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    training.fill(&batch, step: step)
    loadBatch()
    return graph.lossAndGradient(parameters, into: &gradients)
  }

  /// The mean loss over the first `batches` batches of `split`, in evaluation mode.
  public func evaluate(_ parameters: ParameterSet, split: DatasetSplit, batches: Int) -> Float {
    precondition(evaluation[split] != nil, "no \(split) data was given to this task")
    var total: Float = 0
    for step in 0..<batches {
      evaluation[split]!.fill(&batch, step: step)
      loadBatch()
      total += graph.forward(parameters)
    }
    return batches > 0 ? total / Float(batches) : 0
  }

  private func loadBatch() {
    graph.setValue(inputs, to: batch.inputs)
    graph.setValue(labels, to: batch.targets)
  }
}

extension MLPClassifier where Sampler == MinibatchSampler {
  /// An MLP on an image data set: shuffled training batches from `splits[.train]`, evaluation
  /// on every split given.
  ///
  /// - Parameters:
  ///   - splits: the data sets by split; `.train` is required.
  ///   - hiddenWidths: one entry per hidden layer.
  ///   - activation: the non-linearity after each hidden layer.
  ///   - batchSize: examples per step.
  ///   - key: fixes the order of training and evaluation batches.
  /// - Throws: ``GraphError`` when the sizes do not make a valid model.
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
