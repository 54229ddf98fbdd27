import LoptCore
import LoptData

/// Sampling a family member from a key (docs/meta-training-method.md §9), with CPU-scaled ranges.
///
/// VeLO's ranges are kept where a CPU handles them (depths, most widths, activations,
/// initialisers, latent sizes, patch choices) and scaled down where its largest members would
/// take seconds per step on two cores:
///
/// | quantity | VeLO | here |
/// |---|---|---|
/// | image size (MLP, conv, AE, VAE) | log_int(4, 32) | log_int(4, 17), shipped 8×8/16×16 data |
/// | image size (ViT, ResNet) | log_int(8, 64) | log_int(8, 17) |
/// | batch (image) | log_int(4, 512) | log_int(4, 129) |
/// | batch (ViT, ResNet, LMs) | log_int(4, 256 or 512) | log_int(4, 65) |
/// | ViT layers, heads, head size, MLP | 1–16, 1–16, 8–64, 32–512 | log_int(1, 5), log_int(1, 5), log_int(8, 33), log_int(32, 257) |
/// | LSTM hidden, embedding | log_int(8, 256) | log_int(8, 129) |
/// | transformer heads, head size, layers | 8–128, 8–128, 1–8 | log_int(1, 9), log_int(8, 33), log_int(1, 5) |
/// | sequence length | log_int(4, 512) | log_int(4, 65) |
/// | vocabulary | log_int(100, 10000) | log_int(32, 257) (the bytes) |
/// | ResNet max blocks, base, initial channels | log_int(1, 10), 8–256, 8–64 | log_int(1, 4), log_int(4, 33), log_int(4, 17) |
///
/// The cost-model budget of a distribution then rejects what is still too slow.
extension TaskFamily {
  /// The data sets image families draw from (shipped with Lopt, so samples build anywhere).
  public static let sampledImageBases = ["mnist", "fashion"]

  /// Draws a member of the family from `key`, without augmentations.
  public func sample(key: RandomKey) -> TaskSpec {
    var r = SpecRandom(key: key)
    var model = ModelSpec()
    var data: DataSpec
    let batch: Int
    var activation: ActivationName? = r.choice(ActivationName.veloChoices)
    var initializer: WeightInitializer? = WeightInitializer(
      kind: r.choice([.orthogonal, .uniform, .normal, .normal, .uniformVariance]),
      scale: Float(r.uniform(0.5, 2)))
    func widths(_ r: inout SpecRandom, depth: ClosedRange<Int>, width: (Int, Int)) -> [Int] {
      let count = r.integer(depth)
      let w = r.logInt(width.0, width.1)
      return Array(repeating: w, count: count)
    }
    func images(_ r: inout SpecRandom, sizes: (Int, Int)) -> DataSpec {
      let size = r.logInt(sizes.0, sizes.1)
      let base = r.choice(Self.sampledImageBases)
      return DataSpec(dataset: "\(base)\(size <= 8 ? 8 : 16)", imageSize: size)
    }
    func text(_ r: inout SpecRandom) -> DataSpec {
      DataSpec(
        dataset: TextCorpusName.austenSmall.rawValue, sequenceLength: r.logInt(4, 65),
        vocabularySize: r.logInt(32, 257))
    }
    switch self {
    case .imageMLP:
      model.hiddenWidths = widths(&r, depth: 0...4, width: (8, 128))
      data = images(&r, sizes: (4, 17))
      batch = r.logInt(4, 129)
    case .imageConv:
      model.convWidths = widths(&r, depth: 0...3, width: (4, 64))
      model.strideCount = min(r.integer(0...2), model.convWidths!.count)
      data = images(&r, sizes: (4, 17))
      batch = r.logInt(4, 129)
    case .mlpAutoencoder:
      model.hiddenWidths = widths(&r, depth: 0...4, width: (8, 128))
      model.usesLogLoss = r.bernoulli(0.5)
      model.centersData = r.bernoulli(0.5)
      data = images(&r, sizes: (4, 17))
      batch = r.logInt(4, 129)
    case .mlpVAE:
      model.encoderWidths = widths(&r, depth: 0...4, width: (4, 128))
      model.decoderWidths = widths(&r, depth: 0...4, width: (4, 128))
      model.latentSize = r.logInt(2, 128)
      model.centersData = r.bernoulli(0.5)
      model.usesPerDimensionLoss = r.bernoulli(0.5)
      data = images(&r, sizes: (4, 17))
      batch = r.logInt(4, 129)
    case .vit:
      (activation, initializer) = (nil, nil)
      model.layers = r.logInt(1, 5)
      model.heads = r.logInt(1, 5)
      model.headSize = r.logInt(8, 33)
      model.mlpWidth = r.logInt(32, 257)
      let rates = (r.uniform(0, 0.8), r.bernoulli(0.3))
      model.dropoutRate = rates.1 ? 0 : Float(rates.0)
      data = images(&r, sizes: (8, 17))
      let size = data.imageSize! - data.imageSize! % 2
      data.imageSize = size
      model.patchSize = r.choice([2, 4, 8, 12, 16].filter { size % $0 == 0 && $0 < size })
      batch = r.logInt(4, 65)
    case .lstmLM:
      activation = nil
      model.hiddenSize = r.logInt(8, 129)
      model.embeddingSize = r.logInt(8, 129)
      data = text(&r)
      batch = r.logInt(4, 65)
    case .transformerLM:
      (activation, initializer) = (nil, nil)
      model.headSize = r.logInt(8, 33)
      model.heads = r.logInt(1, 9)
      model.layers = r.logInt(1, 5)
      model.dropoutRate = 0.1
      data = text(&r)
      batch = r.logInt(4, 65)
    case .resnet:
      initializer = nil
      let most = r.logInt(1, 4)
      model.blocksPerGroup = (0..<4).map { _ in r.logInt(1, most + 1) }
      model.baseChannels = r.logInt(4, 33)
      model.channelPattern = r.choice([
        [1, 1, 1, 1], [1, 2, 4, 8], [1, 2, 2, 4], [1, 2, 2, 2], [1, 2, 4, 4],
      ])
      model.initialKernelSize = r.choice([3, 5, 7])
      model.initialChannels = r.logInt(4, 17)
      model.hasMaxPool = r.bernoulli(0.5)
      data = images(&r, sizes: (8, 17))
      batch = r.logInt(4, 65)
    }
    return TaskSpec(
      family: self, model: model, data: data, batchSize: batch, activation: activation,
      initializer: initializer, seed: key.folding(in: 0x5EED).rawValue)
  }
}

extension AugmentationSpec {
  /// Draws VeLO's augmentations (docs/meta-training-method.md §8): each independently, from its own
  /// draws.
  ///
  /// Reparameterisation level uniform over {none, none, global, global, tensor, tensor,
  /// parameter} with scales from (0.001, 1000), (0.01, 100) or (0.1, 10); ES gradient
  /// p = 0.08 (σ ~ LogU(0.001, 0.1), pairs ∈ {1, 2, 4, 8, 16}); reduced batch p = 0.2
  /// (fraction ~ U(0.01, 1)); bfloat16 p = 0.2; gradient normalisation p = 0.05; subsampled
  /// directions p = 0.08 (K = round(LogU(1, 1024)), sign ∈ {true, false}); stale gradients
  /// p = 0.05 (delay = int(LogU(1, 8))).
  public static func sample(key: RandomKey) -> AugmentationSpec {
    var r = SpecRandom(key: key)
    var a = AugmentationSpec()
    let levels: [ReparameterizationLevel?] = [
      nil, nil, .global, .global, .tensor, .tensor, .parameter,
    ]
    let ranges: [(Float, Float)] = [(0.001, 1000), (0.01, 100), (0.1, 10)]
    if let level = r.choice(levels) {
      let range = r.choice(ranges)
      a.reparameterization = Reparameterization(level: level, low: range.0, high: range.1)
    }
    if r.bernoulli(0.08) {
      a.esGradient = ESGradient(
        standardDeviation: Float(r.logFloat(0.001, 0.1)), pairs: r.choice([1, 2, 4, 8, 16]))
    }
    if r.bernoulli(0.2) { a.batchFraction = Float(r.uniform(0.01, 1)) }
    if r.bernoulli(0.2) { a.usesBFloat16 = true }
    if r.bernoulli(0.05) { a.normalizesGradient = true }
    if r.bernoulli(0.08) {
      a.subsampledDirections = SubsampledDirections(
        count: Int(r.logFloat(1, 1024).rounded()), usesSign: r.bernoulli(0.5))
    }
    if r.bernoulli(0.05) { a.gradientDelay = Int(r.logFloat(1, 8)) }
    return a
  }
}
