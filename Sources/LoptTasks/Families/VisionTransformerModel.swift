import Foundation
import LoptCore
import LoptData
import LoptNN

extension TaskSpec {
  /// The ViT family: embedded patches after a class token, learned positions, transformer
  /// blocks, a final layer norm and a linear head on the class token; returns the logits.
  func visionTransformer(
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
}
