import Foundation
import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct LayerNormTests {
  @Test func forwardMatchesHandComputedValues() throws {
    var harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 4])
      let values = Tensor(shape: [2, 4], scalars: [1, 2, 3, 4, -2, 0, 2, 4])
      return (builder.layerNorm(x, name: "ln"), [x: values])
    }
    #expect(harness.parameters["ln/scale"].scalars == [1, 1, 1, 1])
    #expect(harness.parameters["ln/offset"].scalars == [0, 0, 0, 0])
    harness.parameters["ln/scale"] = Tensor([1, 2, 1, 0.5])
    harness.parameters["ln/offset"] = Tensor([0, 0, 1, -1])
    // Row 1: mean 2.5, variance 1.25; row 2: mean 1, variance 5 (biased, as in Haiku).
    let r1 = 1 / (1.25 + 1e-5).squareRoot()
    let r2 = 1 / (5 + 1e-5).squareRoot()
    let expected = [
      -1.5 * r1, 2 * -0.5 * r1, 0.5 * r1 + 1, 0.5 * 1.5 * r1 - 1,
      -3 * r2, 2 * -1 * r2, 1 * r2 + 1, 0.5 * 3 * r2 - 1,
    ].map { Float($0) }
    expectClose(harness.run().scalars, expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-6)
  }

  @Test(arguments: [[3, 5], [2, 3, 4]])
  func gradientsMatchFiniteDifferences(shape: [Int]) {
    let result = checkGradients(batchSize: shape[0]) { builder in
      let x = builder.input(shape: shape, requiresGradient: true)
      return (builder.layerNorm(x, name: "ln"), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(shape): \(result)")
  }
}
