extension TaskSpec {
  /// Fixed tasks for tests and evaluation, by name (small sizes for a CPU).
  public static let named: [String: TaskSpec] = {
    func image(
      _ family: TaskFamily, _ model: ModelSpec, _ dataset: String, size: Int, batch: Int = 64
    ) -> TaskSpec {
      TaskSpec(
        family: family, model: model, data: DataSpec(dataset: dataset, imageSize: size),
        batchSize: batch, activation: family == .vit ? nil : .relu)
    }
    func text(_ family: TaskFamily, _ model: ModelSpec) -> TaskSpec {
      TaskSpec(
        family: family, model: model,
        data: DataSpec(dataset: "austen-small", sequenceLength: 32, vocabularySize: 256),
        batchSize: 16)
    }
    var mlp = ModelSpec()
    mlp.hiddenWidths = [32]
    var conv = ModelSpec()
    (conv.convWidths, conv.strideCount) = ([16, 32], 2)
    var autoencoder = ModelSpec()
    autoencoder.hiddenWidths = [32]
    var vae = ModelSpec()
    (vae.encoderWidths, vae.decoderWidths, vae.latentSize) = ([64], [64], 8)
    var vit = ModelSpec()
    (vit.layers, vit.heads, vit.headSize, vit.mlpWidth, vit.patchSize) = (2, 2, 16, 64, 4)
    var lstm = ModelSpec()
    (lstm.hiddenSize, lstm.embeddingSize) = (64, 32)
    var transformer = ModelSpec()
    (transformer.layers, transformer.heads, transformer.headSize) = (2, 2, 16)
    var resnet = ModelSpec()
    (resnet.blocksPerGroup, resnet.baseChannels, resnet.channelPattern) = (
      [1, 1, 1, 1], 8, [1, 2, 2, 4]
    )
    (resnet.initialKernelSize, resnet.initialChannels, resnet.hasMaxPool) = (3, 8, false)
    return [
      "mlp-fashion8-relu32": image(.imageMLP, mlp, "fashion8", size: 8),
      "conv-mnist16": image(.imageConv, conv, "mnist16", size: 16),
      "ae-mnist8": image(.mlpAutoencoder, autoencoder, "mnist8", size: 8),
      "vae-fashion8": image(.mlpVAE, vae, "fashion8", size: 8),
      "vit-mnist16": image(.vit, vit, "mnist16", size: 16, batch: 32),
      "lstm-austen": text(.lstmLM, lstm),
      "transformer-austen": text(.transformerLM, transformer),
      "resnet-fashion16": image(.resnet, resnet, "fashion16", size: 16, batch: 32),
    ]
  }()

  /// The named task `name`.
  ///
  /// - Throws: ``TaskSpecError/unknownValue(field:value:allowed:)`` for an unknown name.
  public init(named name: String) throws {
    guard let spec = Self.named[name] else {
      throw TaskSpecError.unknownValue(
        field: "task", value: name, allowed: Self.named.keys.sorted())
    }
    self = spec
  }
}
