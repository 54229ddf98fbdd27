import LoptCore
import Testing

@testable import LoptLearned

/// The per-parameter step gives the same parameters whether a tensor's features are cached
/// between the two passes or recomputed (tensors above the cache limit).
@Suite struct PerParameterStepTests {
  /// Features that are a fixed function of the element index and its parameter.
  struct Features: PerParameterFeatures {
    let parameters: UnsafePointer<Float>
    var featureCount: Int { 5 }
    func write(element i: Int, into f: UnsafeMutablePointer<Float>) {
      for c in 0..<5 { f[c] = Float((i * (c + 3)) % 17) * 0.1 - 0.8 + parameters[i] }
    }
  }

  func step(count: Int, largestTensor: Int) -> [Float] {
    let widths = [5 + 2, 4, 4, 2]
    var offsets: [Int] = []
    var biases: [Int] = []
    var total = 0
    for (fanIn, fanOut) in zip(widths, widths.dropFirst()) {
      offsets.append(total)
      total += fanIn * fanOut
      biases.append(total)
      total += fanOut
    }
    let network = PerParameterMLP(widths: widths, weightOffsets: offsets, biasOffsets: biases)
    var theta = [Float](repeating: 0, count: total)
    theta.withUnsafeMutableBufferPointer { RandomKey(seed: 1).fillNormal($0) }
    var scratch = PerParameterScratch(
      featureCount: 5, stepFeatureCount: 2, network: network, largestTensor: largestTensor)
    scratch.floats[10] = 0.25
    scratch.floats[11] = -1
    var parameters = (0..<count).map { Float($0 % 13) * 0.01 }
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

  @Test(arguments: [1, 63, 64, 65, 300])
  func cachedAndRecomputedFeaturesAgreeExactly(count: Int) {
    let cached = step(count: count, largestTensor: count)
    let recomputed = step(count: count, largestTensor: 0)
    #expect(cached == recomputed)
    #expect(cached != (0..<count).map { Float($0 % 13) * 0.01 })
  }
}
