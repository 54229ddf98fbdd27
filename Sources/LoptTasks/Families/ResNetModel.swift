import Foundation
import LoptCore
import LoptData
import LoptNN

extension TaskSpec {
  /// The ResNet family: a stem, groups of bottleneck blocks with BatchNorm, global average
  /// pooling and a zero-initialised classifier; returns the logits.
  func resNet(
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
  func bottleneck(
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
}
