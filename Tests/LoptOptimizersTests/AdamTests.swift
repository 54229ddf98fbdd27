import Foundation
import LoptCore
import LoptOptimizers
import LoptTestSupport
import Testing

@Suite struct AdamTests {
  static let layout = ParameterLayout([("w", [2, 3]), ("b", [3]), ("s", [])])

  /// Adam written out in `Double`, one parameter at a time.
  static func reference(
    parameters: [Double], gradients: [[Double]], lr: Double, b1: Double, b2: Double, eps: Double
  ) -> [Double] {
    var p = parameters
    var m = [Double](repeating: 0, count: p.count)
    var v = m
    for (step, g) in gradients.enumerated() {
      let t = Double(step + 1)
      for i in p.indices {
        m[i] = b1 * m[i] + (1 - b1) * g[i]
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
        let mHat = m[i] / (1 - pow(b1, t))
        let vHat = v[i] / (1 - pow(b2, t))
        p[i] -= lr * mHat / (vHat.squareRoot() + eps)
      }
    }
    return p
  }

  @Test func matchesTheFormulaOverSeveralSteps() {
    let key = RandomKey(seed: 3)
    var parameters = ParameterSet(layout: Self.layout)
    parameters.withUnsafeMutableBufferPointer { key.fillNormal($0) }
    let gradientSteps: [[Float]] = (0..<6).map { step in
      (0..<Self.layout.totalCount).map { key.folding(in: UInt64(step + 1)).normal(at: $0) }
    }
    let adam = Adam(learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6)
    let expected = Self.reference(
      parameters: parameters.flat.scalars.map(Double.init),
      gradients: gradientSteps.map { $0.map(Double.init) }, lr: 0.01, b1: 0.8, b2: 0.95, eps: 1e-6)
    var state = adam.makeState(for: parameters, totalSteps: 6)
    for g in gradientSteps {
      let gradients = ParameterSet(layout: Self.layout, flat: Tensor(g))
      adam.update(&parameters, gradients: gradients, loss: 0, state: &state)
    }
    #expect(state.iteration == 6)
    expectClose(parameters.flat.scalars, expected.map(Float.init), relativeTolerance: 1e-5)
  }

  @Test func firstStepMovesEachParameterByTheLearningRate() {
    // With bias correction the first update is lr · g / (|g| + ε) ≈ lr · sign(g).
    var parameters = ParameterSet(layout: Self.layout)
    let gradients = ParameterSet(
      layout: Self.layout, flat: Tensor([3, -2, 0.5, -0.1, 7, -9, 1e-3, 4, -4, 2]))
    let adam = Adam(learningRate: 0.1)
    var state = adam.makeState(for: parameters, totalSteps: 1)
    adam.update(&parameters, gradients: gradients, loss: 0, state: &state)
    let expected = gradients.flat.scalars.map { -0.1 * $0 / (abs($0) + 1e-8) }
    expectClose(parameters.flat.scalars, expected, relativeTolerance: 1e-5)
  }

  @Test func identicalInputsGiveBitwiseIdenticalResults() {
    let gradients = ParameterSet(layout: Self.layout, repeating: 0.25)
    var runs: [ParameterSet] = []
    for _ in 0..<2 {
      var parameters = ParameterSet(layout: Self.layout, repeating: 1)
      let adam = Adam()
      var state = adam.makeState(for: parameters, totalSteps: 3)
      for _ in 0..<3 { adam.update(&parameters, gradients: gradients, loss: 0, state: &state) }
      runs.append(parameters)
    }
    #expect(runs[0] == runs[1])
  }
}
