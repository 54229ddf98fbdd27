import LoptCore

/// Resampling weights along one axis of `inputCount` pixels to `outputCount` pixels.
///
/// Output pixel `o` is `Σₖ weights[o][k] · input[starts[o] + k]`. Shrinking uses area
/// averaging, enlarging bilinear interpolation with half-pixel centres; equal sizes copy.
struct Resampling {
  let inputCount: Int
  let outputCount: Int
  private var starts: [Int] = []
  private var weights: [[Float]] = []

  init(from inputCount: Int, to outputCount: Int) {
    self.inputCount = inputCount
    self.outputCount = outputCount
    let scale = Double(inputCount) / Double(outputCount)
    for o in 0..<outputCount {
      if outputCount < inputCount {
        // Output pixel o covers input interval [lo, hi); each input pixel counts by overlap.
        let lo = Double(o) * scale
        let hi = Double(o + 1) * scale
        let first = Int(lo.rounded(.down))
        let last = min(Int(hi.rounded(.up)), inputCount)
        starts.append(first)
        weights.append(
          (first..<last).map { i in
            Float((min(hi, Double(i + 1)) - max(lo, Double(i))) / scale)
          })
      } else {
        let position = min(max((Double(o) + 0.5) * scale - 0.5, 0), Double(inputCount - 1))
        let first = Int(position.rounded(.down))
        let fraction = Float(position - Double(first))
        starts.append(first)
        weights.append(first + 1 < inputCount ? [1 - fraction, fraction] : [1])
      }
    }
  }

  /// Resamples the middle axis of `input` viewed as `[outer, inputCount, inner]` into a
  /// tensor of `resultShape`, viewed as `[outer, outputCount, inner]`.
  func apply(to input: Tensor, outer: Int, inner: Int, resultShape: [Int]) -> Tensor {
    precondition(input.count == outer * inputCount * inner, "resampling shape mismatch")
    if inputCount == outputCount { return input.reshaped(to: resultShape) }
    var result = Tensor(shape: resultShape)
    input.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { out in
        for n in 0..<outer {
          for o in 0..<outputCount {
            let target = (n * outputCount + o) * inner
            for (k, weight) in weights[o].enumerated() {
              let from = (n * inputCount + starts[o] + k) * inner
              for j in 0..<inner { out[target + j] += weight * source[from + j] }
            }
          }
        }
      }
    }
    return result
  }
}
