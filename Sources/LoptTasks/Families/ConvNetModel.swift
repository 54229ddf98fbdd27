import Foundation
import LoptCore
import LoptData
import LoptNN

extension TaskSpec {
  /// The image-conv family: 3×3 convolutions of `model.convWidths` (the first
  /// `model.strideCount` with stride 2), then global mean pooling and a linear head; returns
  /// the logits.
  func convNet(
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
}
