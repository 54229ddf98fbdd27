import Foundation
import LoptNN

/// The task families of VeLO's training distribution (docs/meta-training-method.md §9.4), by their
/// JSON name.
public enum TaskFamily: String, Codable, CaseIterable, Sendable {
  /// An MLP classifier on flattened images.
  case imageMLP = "image-mlp"
  /// A ConvNet classifier: 3×3 convolutions, global mean pooling, a linear head.
  case imageConv = "image-conv"
  /// An MLP autoencoder with a squared-error (or log squared-error) loss.
  case mlpAutoencoder = "mlp-ae"
  /// An MLP variational autoencoder (negative ELBO).
  case mlpVAE = "mlp-vae"
  /// A vision transformer with a class token.
  case vit
  /// An LSTM language model on bytes.
  case lstmLM = "lstm-lm"
  /// A pre-LayerNorm transformer language model on bytes, without positional embeddings.
  case transformerLM = "transformer-lm"
  /// A ResNet v1 with bottleneck blocks and BatchNorm.
  case resnet

  /// Whether the family reads images (otherwise text).
  public var isImageFamily: Bool { self != .lstmLM && self != .transformerLM }
}

/// VeLO's per-task activation choices (docs/meta-training-method.md §9.2), by their JSON name.
public enum ActivationName: String, Codable, CaseIterable, Sendable {
  /// `max(x, 0)`.
  case relu
  /// `min(max(x, 0), 6)`.
  case relu6
  /// Self-normalising ELU.
  case selu
  /// `tanh(x)`.
  case tanh
  /// `cos(x)`.
  case cos
  /// `sin(x)`.
  case sin
  /// The logistic function.
  case sigmoid
  /// `x · sigmoid(x)`.
  case silu
  /// The same function as ``silu`` (VeLO lists both).
  case swish
  /// GELU (tanh approximation).
  case gelu
  /// Leaky ReLU with VeLO's negative slope −0.5.
  case leakyRelu = "leaky-relu"

  /// The 12-entry list VeLO draws from uniformly (relu twice).
  public static let veloChoices: [ActivationName] = [
    .relu, .relu, .relu6, .selu, .tanh, .cos, .sin, .sigmoid, .silu, .swish, .gelu, .leakyRelu,
  ]

  /// The layer-level activation.
  public var activation: Activation {
    switch self {
    case .relu: .relu
    case .relu6: .relu6
    case .selu: .selu
    case .tanh: .tanh
    case .cos: .cos
    case .sin: .sin
    case .sigmoid: .sigmoid
    case .silu, .swish: .silu
    case .gelu: .gelu
    case .leakyRelu: .leakyRelu(slope: -0.5)
    }
  }
}

/// One of VeLO's sampled weight initialisers with its scale (docs/meta-training-method.md §9.2).
///
/// With `s = scale` and `n` the fan-in (`shape[-2]` × receptive field):
/// ```
/// orthogonal       orthogonal matrix × s
/// uniform          U(±s·√(3/n))
/// normal           N(0, s/n)
/// uniformVariance  U(±√(3s/n))
/// ```
public struct WeightInitializer: Codable, Hashable, Sendable {
  /// The four distinct schemes (VeLO's index 2 and 3 are both ``normal``).
  public enum Kind: String, Codable, CaseIterable, Sendable {
    /// Orthogonal, gain `scale`.
    case orthogonal
    /// Uniform with limit `scale · √(3 / fan-in)`.
    case uniform
    /// Normal with variance `scale / fan-in`.
    case normal
    /// Uniform with limit `√(3 · scale / fan-in)`.
    case uniformVariance = "uniform-variance"
  }

  /// The scheme.
  public var kind: Kind
  /// VeLO's `init_scale`, sampled from U(0.5, 2).
  public var scale: Float

  /// Creates an initialiser description.
  public init(kind: Kind, scale: Float) {
    self.kind = kind
    self.scale = scale
  }

  /// The layer-level initializer.
  public var initializer: Initializer {
    switch kind {
    case .orthogonal: .orthogonal(gain: scale)
    case .uniform: .varianceScaling(scale: scale * scale, mode: .fanIn, distribution: .uniform)
    case .normal: .varianceScaling(scale: scale, mode: .fanIn, distribution: .normal)
    case .uniformVariance: .varianceScaling(scale: scale, mode: .fanIn, distribution: .uniform)
    }
  }
}

/// The data a task trains on: an image data set at a size, or a text corpus.
public struct DataSpec: Codable, Hashable, Sendable {
  /// An `LoptData.ImageDatasetName` or `LoptData.TextCorpusName` raw value.
  public var dataset: String
  /// Image families: the square side the images are resized to.
  public var imageSize: Int?
  /// Language families: tokens per sequence.
  public var sequenceLength: Int?
  /// Language families: the vocabulary `V`; a byte `t ≥ V` becomes `1 + t mod (V − 1)`.
  public var vocabularySize: Int?

  /// Creates a data description.
  public init(
    dataset: String, imageSize: Int? = nil, sequenceLength: Int? = nil,
    vocabularySize: Int? = nil
  ) {
    self.dataset = dataset
    self.imageSize = imageSize
    self.sequenceLength = sequenceLength
    self.vocabularySize = vocabularySize
  }
}

/// A family's architecture; only the fields the family uses may be set (see
/// ``TaskSpec/validate()``).
public struct ModelSpec: Codable, Hashable, Sendable {
  /// Image MLP and MLP autoencoder: hidden widths.
  public var hiddenWidths: [Int]?
  /// ConvNet: output channels of each 3×3 convolution.
  public var convWidths: [Int]?
  /// ConvNet: how many leading convolutions have stride 2.
  public var strideCount: Int?
  /// VAE: encoder hidden widths.
  public var encoderWidths: [Int]?
  /// VAE: decoder hidden widths.
  public var decoderWidths: [Int]?
  /// VAE: latent dimensions.
  public var latentSize: Int?
  /// Autoencoder and VAE: map pixels x to 2x − 1.
  public var centersData: Bool?
  /// Autoencoder: the log squared-error loss.
  public var usesLogLoss: Bool?
  /// VAE: divide the loss by the number of pixels.
  public var usesPerDimensionLoss: Bool?
  /// ViT and transformer LM: blocks.
  public var layers: Int?
  /// ViT and transformer LM: attention heads.
  public var heads: Int?
  /// ViT and transformer LM: per-head width; the model width is `heads · headSize`.
  public var headSize: Int?
  /// ViT: MLP hidden width.
  public var mlpWidth: Int?
  /// ViT: patch side.
  public var patchSize: Int?
  /// ViT and transformer LM: residual dropout rate.
  public var dropoutRate: Float?
  /// LSTM LM: hidden size.
  public var hiddenSize: Int?
  /// LSTM LM: embedding size.
  public var embeddingSize: Int?
  /// ResNet: bottleneck blocks in each of the four groups.
  public var blocksPerGroup: [Int]?
  /// ResNet: the base channel count.
  public var baseChannels: Int?
  /// ResNet: channel multipliers of the four groups.
  public var channelPattern: [Int]?
  /// ResNet: the initial convolution's kernel side.
  public var initialKernelSize: Int?
  /// ResNet: the initial convolution's channels.
  public var initialChannels: Int?
  /// ResNet: a 3×3 stride-2 max-pool after the initial convolution.
  public var hasMaxPool: Bool?

  /// An empty architecture; set the family's fields.
  public init() {}
}

/// A task named completely: family, architecture, data, batch size, initialiser, augmentations
/// and seed, so the task can be rebuilt bit for bit anywhere with ``makeTask(locator:)``.
///
/// Read files with ``init(json:)``, which rejects unknown keys; `json()` writes sorted keys.
public struct TaskSpec: Codable, Hashable, Sendable {
  /// The family.
  public var family: TaskFamily
  /// The architecture.
  public var model: ModelSpec
  /// The data.
  public var data: DataSpec
  /// Examples (or sequences) per step.
  public var batchSize: Int
  /// The hidden activation, for families that sample one.
  public var activation: ActivationName?
  /// The weight initialiser, for families that sample one (`nil`: the family's default).
  public var initializer: WeightInitializer?
  /// The task augmentations (docs/meta-training-method.md §8).
  public var augmentation: AugmentationSpec
  /// Fixes the data order and the per-step randomness (dropout, VAE noise, augmentations).
  public var seed: UInt64

  /// Creates a spec.
  public init(
    family: TaskFamily, model: ModelSpec, data: DataSpec, batchSize: Int,
    activation: ActivationName? = nil, initializer: WeightInitializer? = nil,
    augmentation: AugmentationSpec = AugmentationSpec(), seed: UInt64 = 0
  ) {
    self.family = family
    self.model = model
    self.data = data
    self.batchSize = batchSize
    self.activation = activation
    self.initializer = initializer
    self.augmentation = augmentation
    self.seed = seed
  }

  private enum CodingKeys: String, CodingKey {
    case family, model, data, batchSize, activation, initializer, augmentation, seed
  }

  /// Decodes a spec; `augmentation` (none) and `seed` (0) may be left out.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      family: try c.decode(TaskFamily.self, forKey: .family),
      model: try c.decode(ModelSpec.self, forKey: .model),
      data: try c.decode(DataSpec.self, forKey: .data),
      batchSize: try c.decode(Int.self, forKey: .batchSize),
      activation: try c.decodeIfPresent(ActivationName.self, forKey: .activation),
      initializer: try c.decodeIfPresent(WeightInitializer.self, forKey: .initializer),
      augmentation: try c.decodeIfPresent(AugmentationSpec.self, forKey: .augmentation)
        ?? AugmentationSpec(),
      seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0)
  }

  /// Decodes a spec from JSON, rejecting keys it does not know and validating the values.
  ///
  /// - Throws: ``TaskSpecError`` naming the offending field.
  public init(json: Data) throws {
    if let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
      let name = object["family"] as? String, TaskFamily(rawValue: name) == nil
    {
      throw TaskSpecError.unknownValue(
        field: "family", value: name, allowed: TaskFamily.allCases.map(\.rawValue))
    }
    self = try StrictJSON.decode(TaskSpec.self, from: json)
    try validate()
  }

  /// The spec as JSON with sorted keys (nil fields omitted).
  public func json(pretty: Bool = false) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
    return try encoder.encode(self)
  }
}
