/// How a pooling window combines the elements it covers.
public enum PoolingKind: String, Sendable, Hashable, Codable, CaseIterable {
  /// The mean over the window's elements inside the image: with `.same` padding, border windows
  /// average over fewer elements, as `hk.avg_pool` and TensorFlow do (padding never counts).
  case average
  /// The maximum over the window's elements inside the image (padding never wins).
  case max
}

/// Average or max pooling over square windows of an NHWC value, per channel.
///
/// The backward pass of max pooling routes each output gradient to the first maximum of its
/// window in row-major order, found again from the input (which the tape keeps unchanged).
public struct PoolingOperation: GraphOperation {
  /// How the window is combined.
  public let kind: PoolingKind
  /// The input `[B, H, W, C]`.
  public let input: GraphValue
  /// The output `[B, Ho, Wo, C]`.
  public let output: GraphValue
  let geometry: WindowGeometry

  /// Forward: `y[b, oy, ox, c] = mean or max of x over the window`.
  public func forward(_ context: GraphContext) {
    let x = context.pointer(input)
    let y = context.pointer(output)
    let g = geometry
    for b in 0..<g.batchSize {
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          let yPixel = y + ((b * g.outputHeight + oy) * g.outputWidth + ox) * g.channels
          let (rows, columns) = (g.rows(at: oy), g.columns(at: ox))
          yPixel.update(repeating: kind == .max ? -.infinity : 0, count: g.channels)
          for iy in rows {
            for ix in columns {
              let xPixel = x + ((b * g.height + iy) * g.width + ix) * g.channels
              switch kind {
              case .average: for c in 0..<g.channels { yPixel[c] += xPixel[c] }
              case .max: for c in 0..<g.channels { yPixel[c] = Swift.max(yPixel[c], xPixel[c]) }
              }
            }
          }
          if kind == .average {
            let inverse = 1 / Float(rows.count * columns.count)
            for c in 0..<g.channels { yPixel[c] *= inverse }
          }
        }
      }
    }
  }

  /// Backward: average pooling spreads `dy / count` over the window; max pooling adds `dy` to
  /// the window's first maximum.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    let x = context.pointer(input)
    let g = geometry
    for b in 0..<g.batchSize {
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          let dyPixel = dy + ((b * g.outputHeight + oy) * g.outputWidth + ox) * g.channels
          let (rows, columns) = (g.rows(at: oy), g.columns(at: ox))
          let image = b * g.height
          switch kind {
          case .average:
            let inverse = 1 / Float(rows.count * columns.count)
            for iy in rows {
              for ix in columns {
                let dxPixel = dx + ((image + iy) * g.width + ix) * g.channels
                for c in 0..<g.channels { dxPixel[c] += inverse * dyPixel[c] }
              }
            }
          case .max:
            for c in 0..<g.channels {
              var best = -Float.infinity
              var bestIndex = 0
              for iy in rows {
                for ix in columns {
                  let index = ((image + iy) * g.width + ix) * g.channels + c
                  if x[index] > best { (best, bestIndex) = (x[index], index) }
                }
              }
              dx[bestIndex] += dyPixel[c]
            }
          }
        }
      }
    }
  }
}

extension GraphBuilder {
  /// Appends average or max pooling over `window × window` windows of an NHWC input.
  ///
  /// ResNet's stem, for example, uses `pool(.max, x, window: 3, stride: 2, padding: .same)`.
  ///
  /// - Parameters:
  ///   - kind: average or max.
  ///   - input: the images `[B, H, W, C]`.
  ///   - window: the side of the square window.
  ///   - stride: the step between windows in both axes.
  ///   - padding: `.same` (output `ceil(H / stride)`; padding never enters the result) or
  ///     `.valid`, as in TensorFlow and JAX.
  /// - Returns: the output `[B, Ho, Wo, C]`.
  public mutating func pool(
    _ kind: PoolingKind, _ input: GraphValue, window: Int, stride: Int, padding: Padding = .valid
  ) -> GraphValue {
    guard
      checkWindow(input, window: window, stride: stride, padding: padding, layer: "\(kind) pool")
    else { return makeValue(shape: [1]) }
    let geometry = WindowGeometry(
      inputShape: input.shape, window: window, stride: stride, padding: padding)
    let output = makeValue(shape: geometry.outputShape(channels: geometry.channels))
    append(PoolingOperation(kind: kind, input: input, output: output, geometry: geometry))
    return output
  }

  /// Appends the mean over the spatial axes: `[B, H, W, C]` → `[B, C]`.
  public mutating func globalMeanPool(_ input: GraphValue) -> GraphValue {
    guard check(input.shape.count == 4, "expected an NHWC value [B, H, W, C], got \(input.shape)")
    else { return makeValue(shape: [1]) }
    return mean(input, axes: 1..<3)
  }
}
