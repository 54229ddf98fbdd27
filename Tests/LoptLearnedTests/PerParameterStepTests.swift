import CLoptShims
import Foundation
import LoptCore
import Testing

@testable import LoptLearned

/// The block-wise per-parameter step gives exactly the parameters of a plain one-element-at-a-time
/// implementation, on both sides of block boundaries.
@Suite struct PerParameterStepTests {
  /// Features that are a fixed function of the element index and its parameter.
  struct Features: PerParameterFeatures {
    let parameters: UnsafePointer<Float>
    var featureCount: Int { 5 }
    func write(element i: Int, into f: UnsafeMutablePointer<Float>) {
      for c in 0..<5 { f[c] = Float((i * (c + 3)) % 17) * 0.1 - 0.8 + parameters[i] }
    }
  }

  static let widths = [5 + 2, 4, 4, 2]
  static let stepFeatures: [Float] = [0.25, -1]

  /// The network's offsets and random weights.
  static func network() -> (PerParameterMLP, [Float]) {
    var offsets: [Int] = []
    var biases: [Int] = []
    var total = 0
    for (fanIn, fanOut) in zip(widths, widths.dropFirst()) {
      offsets.append(total)
      total += fanIn * fanOut
      biases.append(total)
      total += fanOut
    }
    var theta = [Float](repeating: 0, count: total)
    theta.withUnsafeMutableBufferPointer { RandomKey(seed: 1).fillNormal($0) }
    return (PerParameterMLP(widths: widths, weightOffsets: offsets, biasOffsets: biases), theta)
  }

  static func initial(_ count: Int) -> [Float] { (0..<count).map { Float($0 % 13) * 0.01 } }

  func step(count: Int) -> [Float] {
    let (network, theta) = Self.network()
    var scratch = PerParameterScratch(featureCount: 5, stepFeatureCount: 2, network: network)
    scratch.floats[10] = Self.stepFeatures[0]
    scratch.floats[11] = Self.stepFeatures[1]
    var parameters = Self.initial(count)
    var observer = NoObserver()
    parameters.withUnsafeMutableBufferPointer { p in
      theta.withUnsafeBufferPointer { t in
        PerParameterStep.apply(
          Features(parameters: UnsafePointer(p.baseAddress!)), tensor: 0,
          parameters: p.baseAddress!, count: count, network: network, theta: t.baseAddress!,
          expMult: 0.1, stepMult: 0.01, scratch: &scratch, observer: &observer)
      }
    }
    return parameters
  }

  /// The same step written plainly: normalise each element's features, run the MLP on them,
  /// update the parameter.
  func plainStep(count: Int) -> [Float] {
    let (network, theta) = Self.network()
    var parameters = Self.initial(count)
    let features = parameters.withUnsafeBufferPointer { p in
      (0..<count).map { i in
        var f = [Float](repeating: 0, count: 5)
        Features(parameters: p.baseAddress!).write(element: i, into: &f)
        return f
      }
    }
    let scales = (0..<5).map { c in
      lopt_rsqrtf(
        1e-5 + Float(features.reduce(0.0) { $0 + Double($1[c] * $1[c]) } / Double(count)))
    }
    for i in 0..<count {
      var x = (0..<5).map { features[i][$0] * scales[$0] } + Self.stepFeatures
      for layer in 0..<(Self.widths.count - 1) {
        let (fanIn, fanOut) = (Self.widths[layer], Self.widths[layer + 1])
        x = (0..<fanOut).map { j in
          var sum: Float = 0
          for k in 0..<fanIn { sum += x[k] * theta[network.weightOffsets[layer] + k * fanOut + j] }
          sum += theta[network.biasOffsets[layer] + j]
          return layer < Self.widths.count - 2 ? max(sum, 0) : sum
        }
      }
      parameters[i] -= x[0] * exp(x[1] * 0.1) * 0.01
    }
    return parameters
  }

  @Test(arguments: [1, 63, 64, 65, 300])
  func blocksMatchAPlainImplementationExactly(count: Int) {
    let blocked = step(count: count)
    #expect(blocked == plainStep(count: count))
    #expect(blocked != Self.initial(count))
  }
}
