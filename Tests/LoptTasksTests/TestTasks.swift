import LoptCore
import LoptData
import LoptTasks

/// `L(p) = ½ Σᵢ aᵢ (pᵢ − cᵢ)²` with fixed curvatures and centres: a task whose gradient is
/// known exactly, `∇L = a ⊙ (p − c)`.
final class DiagonalQuadraticTask: TrainingTask {
  let layout = ParameterLayout([("p", [3]), ("q", [2])])
  let curvatures: [Float] = [1, 2, 0.5, 3, 1.5]
  let centres: [Float] = [0.3, -1, 2, 0.5, -0.25]
  var modelState = ParameterSet(layout: ParameterLayout([]))

  func initialParameters(key: RandomKey) -> ParameterSet {
    var parameters = ParameterSet(layout: layout)
    parameters.withUnsafeMutableBufferPointer { key.fillNormal($0) }
    return parameters
  }

  func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    parameters.withUnsafeBufferPointer { p in
      gradients.withUnsafeMutableBufferPointer { g in
        for i in 0..<p.count { g[i] = curvatures[i] * (p[i] - centres[i]) }
      }
    }
    return loss(parameters, step: step)
  }

  func loss(_ parameters: ParameterSet, step: Int) -> Float {
    parameters.withUnsafeBufferPointer { p in
      (0..<p.count).reduce(0) {
        $0 + 0.5 * curvatures[$1] * (p[$1] - centres[$1]) * (p[$1] - centres[$1])
      }
    }
  }

  func evaluation(
    _ parameters: ParameterSet, split: DatasetSplit, batches: Int
  ) -> EvaluationMetrics {
    EvaluationMetrics(loss: loss(parameters, step: 0))
  }

  func normalize(_ loss: Float) -> Float { loss }

  /// The exact gradient at `parameters`.
  func gradient(at parameters: ParameterSet) -> [Float] {
    var g = parameters.zerosLike()
    _ = lossAndGradient(parameters, step: 0, into: &g)
    return g.flat.scalars
  }
}

/// Small members of every family, on the 8×8 digits (images) or the shipped Austen slice.
enum TinySpecs {
  static func spec(_ family: TaskFamily, seed: UInt64 = 1) -> TaskSpec {
    var model = ModelSpec()
    var data = DataSpec(dataset: "digits", imageSize: 8)
    var batch = 32
    var activation: ActivationName? = .relu
    switch family {
    case .imageMLP: model.hiddenWidths = [16]
    case .imageConv: (model.convWidths, model.strideCount) = ([8, 8], 1)
    case .mlpAutoencoder: (model.hiddenWidths, model.centersData) = ([16], true)
    case .mlpVAE:
      (model.encoderWidths, model.decoderWidths, model.latentSize) = ([16], [16], 4)
      model.usesPerDimensionLoss = true
    case .vit:
      activation = nil
      (model.layers, model.heads, model.headSize, model.mlpWidth, model.patchSize) = (
        1, 2, 8, 16, 4
      )
      batch = 16
    case .lstmLM, .transformerLM:
      activation = nil
      data = DataSpec(dataset: "austen-small", sequenceLength: 8, vocabularySize: 64)
      batch = 8
      if family == .lstmLM {
        (model.hiddenSize, model.embeddingSize) = (16, 8)
      } else {
        (model.layers, model.heads, model.headSize) = (1, 1, 16)
      }
    case .resnet:
      (model.blocksPerGroup, model.baseChannels, model.channelPattern) = (
        [1, 1, 1, 1], 8, [1, 1, 2, 2]
      )
      (model.initialKernelSize, model.initialChannels, model.hasMaxPool) = (3, 8, true)
      data.imageSize = 16
      batch = 16
    }
    return TaskSpec(
      family: family, model: model, data: data, batchSize: batch, activation: activation,
      seed: seed)
  }
}
