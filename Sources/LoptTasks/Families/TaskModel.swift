import Foundation
import LoptCore
import LoptData
import LoptNN

/// How a task turns a sampler's batch into its graph's inputs.
enum BatchPreparation: Hashable, Sendable {
  /// Images and class labels as they are.
  case classification
  /// Images only (autoencoders): optional uniform dequantisation noise of width
  /// `noiseWidth`, then `x → 2x − 1` when centring.
  case reconstruction(isCentered: Bool, noiseWidth: Float)
  /// Tokens and next tokens folded into the vocabulary, with a mask of non-padding targets.
  case language(vocabularySize: Int)
}

/// A recorded model: its graph builder, input slots, loss, cost and normaliser.
struct TaskModel {
  var builder: ModelBuilder
  var inputs: GraphValue
  var targets: GraphValue?
  var mask: GraphValue?
  var loss: GraphValue
  /// A classifier's logits `[batch, classes]` (compared with `targets` for its accuracy).
  var logits: GraphValue? = nil
  /// Added to the graph's loss (the VAE's dequantisation constant).
  var lossOffset: Float
  var preparation: BatchPreparation
  var normalizer: LossNormalizer
}

/// Shapes the model needs from the data: the image shape and classes, or nothing for text.
struct DataShape: Hashable, Sendable {
  var imageShape: [Int]
  var classCount: Int
}

extension TaskSpec {
  /// The data's shapes as the spec implies them, without loading anything.
  var dataShape: DataShape {
    get throws {
      if family.isImageFamily {
        guard let name = ImageDatasetName(rawValue: data.dataset) else {
          throw TaskSpecError.unknownValue(
            field: "data.dataset", value: data.dataset,
            allowed: ImageDatasetName.allCases.map(\.rawValue))
        }
        let size = data.imageSize ?? name.imageShape[0]
        return DataShape(imageShape: [size, size, name.imageShape[2]], classCount: name.classCount)
      }
      guard TextCorpusName(rawValue: data.dataset) != nil else {
        throw TaskSpecError.unknownValue(
          field: "data.dataset", value: data.dataset,
          allowed: TextCorpusName.allCases.map(\.rawValue))
      }
      return DataShape(imageShape: [], classCount: 0)
    }
  }

  /// The examples per step the graph is built for (after a reduced-batch augmentation).
  var graphBatchSize: Int {
    guard let fraction = augmentation.batchFraction else { return batchSize }
    return max(1, Int(Float(batchSize) * fraction))
  }

  /// The analytic cost of one step, from the recorded model (no data is loaded).
  ///
  /// - Throws: ``TaskSpecError`` if the spec is invalid.
  public func cost() throws -> TaskCost {
    try validate()
    var cost = try makeModel().builder.cost
    cost.family = family
    if let es = augmentation.esGradient {
      // Each pair costs two forward passes (a third of a step each) on top of the step.
      let factor = 1 + 2 * Double(es.pairs) / 3
      cost.flops *= factor
      cost.activations *= factor
      cost.operations *= factor
      cost.transcendentals *= factor
    }
    if let directions = augmentation.subsampledDirections {
      cost.activations += 2 * Double(directions.count) * cost.parameters
    }
    return cost
  }

  /// Records the family's model for ``graphBatchSize``.
  func makeModel() throws -> TaskModel {
    let shape = try dataShape
    let batch = graphBatchSize
    var m = ModelBuilder(
      batchSize: batch, weights: initializer?.initializer ?? .lecunNormal,
      activation: activation?.activation ?? .relu)
    switch family {
    case .imageMLP, .imageConv, .vit, .resnet:
      let classes = shape.classCount
      let normalizer: LossNormalizer =
        family == .imageMLP || family == .imageConv
        ? .classification(classCount: Float(classes))
        : .scaledClassification(classCount: Float(classes))
      return m.classifier(
        exampleShape: shape.imageShape, classCount: classes, normalizer: normalizer
      ) { m, images in
        switch family {
        case .imageMLP:
          m.mlp(
            images.reshaped(to: [batch, shape.imageShape.reduce(1, *)]),
            hiddenWidths: model.hiddenWidths ?? [], outputCount: classes, name: "mlp")
        case .imageConv: convNet(&m, images, classCount: classes)
        case .vit: visionTransformer(&m, images, classCount: classes)
        default: resNet(&m, images, classCount: classes)
        }
      }
    case .mlpAutoencoder, .mlpVAE:
      return autoencoder(&m, shape: shape.imageShape)
    case .lstmLM, .transformerLM:
      return languageModel(&m)
    }
  }
}

extension ModelBuilder {
  /// Records a classifier: image (or example) and label inputs, `body`'s logits and the mean
  /// softmax cross-entropy.
  mutating func classifier(
    exampleShape: [Int], classCount: Int, normalizer: LossNormalizer,
    body: (inout ModelBuilder, GraphValue) -> GraphValue
  ) -> TaskModel {
    let batch = graph.batchSize
    let examples = graph.input(shape: [batch] + exampleShape)
    let labels = graph.input(shape: [batch])
    let logits = body(&self, examples)
    let loss = softmaxCrossEntropy(logits: logits, labels: labels)
    return TaskModel(
      builder: self, inputs: examples, targets: labels, loss: loss, logits: logits, lossOffset: 0,
      preparation: .classification, normalizer: normalizer)
  }
}
