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

  private func convNet(
    _ m: inout ModelBuilder, _ images: GraphValue, classCount: Int
  ) -> GraphValue {
    var x = images
    for (k, width) in (model.convWidths ?? []).enumerated() {
      x = m.conv(
        x, width, kernel: 3, stride: k < (model.strideCount ?? 0) ? 2 : 1, name: "conv_\(k)")
      x = m.activate(x)
    }
    let pooled = m.graph.globalMeanPool(x)
    m.record(pooled)
    return m.dense(pooled, classCount, name: "head", initializer: .lecunNormal)
  }

  private func visionTransformer(
    _ m: inout ModelBuilder, _ images: GraphValue, classCount: Int
  ) -> GraphValue {
    let (heads, headSize) = (model.heads ?? 1, model.headSize ?? 8)
    let width = heads * headSize
    let patches = m.graph.patchify(images, patchSize: model.patchSize ?? 2)
    m.record(patches)
    let batch = patches.shape[0]
    let tokens = m.dense(patches, width, name: "vit/embed")
    let classToken = m.graph.parameter(
      "vit/class_token", shape: [1, width], initializer: .normal(standardDeviation: 0.02))
    let positions = m.graph.parameter(
      "vit/positions", shape: [patches.shape[1] + 1, width],
      initializer: .normal(standardDeviation: 0.02))
    m.cost.parameters += Double((patches.shape[1] + 2) * width)
    let sequence = m.graph.broadcastAdd(
      m.graph.concatenate(
        [m.graph.broadcast(.parameter(classToken), to: [batch, 1, width]), tokens], axis: 1),
      .parameter(positions))
    m.record(sequence)
    var x = sequence
    for layer in 0..<(model.layers ?? 1) {
      x = m.transformerBlock(
        x, heads: heads, keySize: headSize, mlpWidth: model.mlpWidth ?? 4 * width,
        dropoutRate: model.dropoutRate ?? 0, isCausal: false, name: "vit/block_\(layer)")
    }
    x = m.layerNorm(x, name: "vit/final_norm")
    let token = m.graph.slice(x.reshaped(to: [batch, x.count / batch]), lastAxis: 0..<width)
    return m.dense(token, classCount, name: "vit/head", initializer: .lecunNormal)
  }

  private func resNet(
    _ m: inout ModelBuilder, _ images: GraphValue, classCount: Int
  ) -> GraphValue {
    var x = m.conv(
      images, model.initialChannels ?? 8, kernel: model.initialKernelSize ?? 3, stride: 2,
      name: "resnet/initial", hasBias: false)
    x = m.activate(m.batchNorm(x, name: "resnet/initial_norm"))
    if model.hasMaxPool ?? false {
      x = m.graph.pool(.max, x, window: 3, stride: 2, padding: .same)
      m.record(x)
    }
    let pattern = model.channelPattern ?? [1, 1, 1, 1]
    for (group, blocks) in (model.blocksPerGroup ?? [1, 1, 1, 1]).enumerated() {
      let channels = (model.baseChannels ?? 8) * pattern[group]
      for block in 0..<blocks {
        let stride = block == 0 && group > 0 ? 2 : 1
        x = bottleneck(
          &m, x, channels: channels, stride: stride, hasProjection: block == 0,
          name: "resnet/group_\(group)/block_\(block)")
      }
    }
    let pooled = m.graph.globalMeanPool(x)
    m.record(pooled)
    return m.dense(pooled, classCount, name: "resnet/logits", initializer: .zeros)
  }

  /// ResNet v1 bottleneck: 1×1 (c/4), 3×3 (c/4, stride), 1×1 (c), each with BatchNorm, plus a
  /// projected or identity shortcut, then the activation.
  private func bottleneck(
    _ m: inout ModelBuilder, _ x: GraphValue, channels: Int, stride: Int, hasProjection: Bool,
    name: String
  ) -> GraphValue {
    let inner = max(1, channels / 4)
    var y = m.conv(x, inner, kernel: 1, name: "\(name)/conv_0", hasBias: false)
    y = m.activate(m.batchNorm(y, name: "\(name)/norm_0"))
    y = m.conv(y, inner, kernel: 3, stride: stride, name: "\(name)/conv_1", hasBias: false)
    y = m.activate(m.batchNorm(y, name: "\(name)/norm_1"))
    y = m.conv(y, channels, kernel: 1, name: "\(name)/conv_2", hasBias: false)
    y = m.batchNorm(y, name: "\(name)/norm_2")
    var shortcut = x
    if hasProjection {
      shortcut = m.conv(
        x, channels, kernel: 1, stride: stride, name: "\(name)/shortcut", hasBias: false)
      shortcut = m.batchNorm(shortcut, name: "\(name)/shortcut_norm")
    }
    return m.activate(m.add(y, shortcut))
  }

  private func autoencoder(_ m: inout ModelBuilder, shape: [Int]) -> TaskModel {
    let batch = m.graph.batchSize
    let pixels = shape.reduce(1, *)
    let images = m.graph.input(shape: [batch] + shape)
    let flat = images.reshaped(to: [batch, pixels])
    let isCentered = model.centersData ?? false
    if family == .mlpAutoencoder {
      var output = m.mlp(
        flat, hiddenWidths: model.hiddenWidths ?? [], outputCount: pixels, name: "mlp")
      output = m.activate(output, isCentered ? .tanh : .sigmoid)
      let isLogLoss = model.usesLogLoss ?? false
      let loss = m.graph.meanSquaredError(
        output.reshaped(to: images.shape), target: images,
        logOfMeanOverAxis: isLogLoss ? 1 : nil)
      m.record(output)
      return TaskModel(
        builder: m, inputs: images, loss: loss, lossOffset: 0,
        preparation: .reconstruction(isCentered: isCentered, noiseWidth: 0),
        normalizer: .autoencoder(isLogLoss: isLogLoss))
    }
    let latent = model.latentSize ?? 2
    let encoded = m.mlp(
      flat, hiddenWidths: model.encoderWidths ?? [], outputCount: 2 * latent, name: "encoder")
    let mean = m.graph.slice(encoded, lastAxis: 0..<latent)
    let logScale = m.graph.slice(encoded, lastAxis: latent..<(2 * latent))
    let z = m.graph.gaussianSample(mean: mean, logStandardDeviation: logScale)
    m.record(z, transcendentals: Double(2 * z.count))
    let decoded = m.mlp(
      z, hiddenWidths: model.decoderWidths ?? [], outputCount: 2 * pixels, name: "decoder")
    let decodedScale = m.graph.clip(
      m.graph.slice(decoded, lastAxis: pixels..<(2 * pixels)), to: -10...10)
    let likelihood = m.graph.gaussianLogLikelihood(
      flat, mean: m.graph.slice(decoded, lastAxis: 0..<pixels), logStandardDeviation: decodedScale)
    m.record(decoded, transcendentals: Double(decoded.count))
    let divergence = m.graph.gaussianKL(mean: mean, logStandardDeviation: logScale)
    var loss = m.graph.add(likelihood, divergence)
    // Dequantisation: ln p(x) ≈ ln density + ln(1/255) per pixel (width 2/255 when centred).
    let binWidth: Float = isCentered ? 2 / 255 : 1 / 255
    var offset = -Float(pixels) * Foundation.log(binWidth)
    let isPerDimension = model.usesPerDimensionLoss ?? false
    if isPerDimension {
      loss = m.graph.scale(loss, by: 1 / Float(pixels))
      offset /= Float(pixels)
    }
    return TaskModel(
      builder: m, inputs: images, loss: loss, lossOffset: offset,
      preparation: .reconstruction(isCentered: isCentered, noiseWidth: 1 / 255),
      normalizer: .vae(pixelCount: isPerDimension ? 1 : Float(pixels)))
  }

  private func languageModel(_ m: inout ModelBuilder) -> TaskModel {
    let batch = m.graph.batchSize
    let (time, vocabulary) = (data.sequenceLength ?? 8, data.vocabularySize ?? 256)
    let tokens = m.graph.input(shape: [batch, time])
    let targets = m.graph.input(shape: [batch * time])
    let mask = m.graph.input(shape: [batch * time])
    var x: GraphValue
    let logits: GraphValue
    if family == .lstmLM {
      let (embedding, hidden) = (model.embeddingSize ?? 8, model.hiddenSize ?? 8)
      x = m.graph.embedding(
        tokens, vocabularySize: vocabulary, embeddingSize: embedding, name: "embed",
        initializer: m.weights)
      m.record(x)
      m.cost.parameters += Double(vocabulary * embedding)
      x = m.graph.lstm(x, hiddenCount: hidden, name: "lstm", weightInitializer: m.weights)
      m.cost.parameters += Double((embedding + hidden + 1) * 4 * hidden + 2 * hidden)
      m.record(
        x, multiplyAdds: Double(batch * time * (embedding + hidden) * 4 * hidden),
        transcendentals: Double(5 * batch * time * hidden), calls: Double(3 * time))
      m.cost.activations += Double(batch * time * 8 * hidden)
      logits = m.dense(x, vocabulary, name: "output")
    } else {
      let layers = model.layers ?? 1
      let width = (model.heads ?? 1) * (model.headSize ?? 8)
      m.weights = .varianceScaling(
        scale: 2 / Float(layers), mode: .fanIn, distribution: .truncatedNormal)
      x = m.graph.embedding(
        tokens, vocabularySize: vocabulary, embeddingSize: width, name: "embed",
        initializer: .truncatedNormal(standardDeviation: 1))
      m.record(x)
      m.cost.parameters += Double(vocabulary * width)
      for layer in 0..<layers {
        x = m.transformerBlock(
          x, heads: model.heads ?? 1, keySize: 32, mlpWidth: 4 * width,
          dropoutRate: model.dropoutRate ?? 0, isCausal: true, name: "block_\(layer)")
      }
      x = m.layerNorm(x, name: "final_norm")
      logits = m.dense(x, vocabulary, name: "output")
    }
    let loss = m.softmaxCrossEntropy(
      logits: logits.reshaped(to: [batch * time, vocabulary]), labels: targets, mask: mask)
    return TaskModel(
      builder: m, inputs: tokens, targets: targets, mask: mask, loss: loss, lossOffset: 0,
      preparation: .language(vocabularySize: vocabulary),
      normalizer: .classification(classCount: Float(vocabulary)))
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
