import Foundation
import LoptCore
import LoptData
import LoptNN

extension TaskSpec {
  /// The LSTM and transformer language-model families: embedded tokens, the sequence model,
  /// next-token softmax cross-entropy over non-padding tokens.
  func languageModel(_ m: inout ModelBuilder) -> TaskModel {
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
