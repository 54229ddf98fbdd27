import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct BatchNormTests {
  /// Four rows of two channels: channel 0 is [1, 2, 3, 4] (mean 2.5, variance 1.25), channel 1
  /// is [−2, 0, 2, 0] (mean 0, variance 2).
  static let input = Tensor(shape: [2, 2, 2], scalars: [1, -2, 2, 0, 3, 2, 4, 0])

  private static func makeHarness() throws -> GraphHarness {
    var harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 2, 2])
      return (builder.batchNorm(x, name: "bn"), [x: input])
    }
    harness.parameters["bn/scale"] = Tensor([2, 1])
    harness.parameters["bn/offset"] = Tensor([0.5, -1])
    return harness
  }

  @Test func trainingModeNormalisesWithBatchStatistics() throws {
    let harness = try Self.makeHarness()
    let r0 = 1 / (1.25 + 1e-5 as Float).squareRoot()
    let r1 = 1 / (2 + 1e-5 as Float).squareRoot()
    let expected = Self.input.scalars.enumerated().map { i, x in
      i % 2 == 0 ? 2 * (x - 2.5) * r0 + 0.5 : x * r1 - 1
    }
    expectClose(harness.run(isTraining: true).scalars, expected, relativeTolerance: 1e-5)
  }

  @Test func trainingForwardUpdatesTheRunningStatistics() throws {
    let harness = try Self.makeHarness()
    #expect(harness.graph.modelState["bn/running_mean"].scalars == [0, 0])
    #expect(harness.graph.modelState["bn/running_variance"].scalars == [1, 1])
    _ = harness.run(isTraining: true)
    // Batch mean [2.5, 0], batch variance [1.25, 2]; running = 0.9 · running + 0.1 · batch.
    expectClose(harness.graph.modelState["bn/running_mean"].scalars, [0.25, 0])
    expectClose(harness.graph.modelState["bn/running_variance"].scalars, [1.025, 1.1])
    _ = harness.run(isTraining: true)
    expectClose(harness.graph.modelState["bn/running_mean"].scalars, [0.475, 0])
    expectClose(harness.graph.modelState["bn/running_variance"].scalars, [1.0475, 1.19])
    // Evaluation passes leave them alone.
    _ = harness.run()
    expectClose(harness.graph.modelState["bn/running_variance"].scalars, [1.0475, 1.19])
  }

  @Test func evaluationModeUsesTheRunningStatistics() throws {
    let harness = try Self.makeHarness()
    harness.graph.modelState["bn/running_mean"] = Tensor([1, -1])
    harness.graph.modelState["bn/running_variance"] = Tensor([4, 0.25])
    let s0 = 2 / (4 + 1e-5 as Float).squareRoot()
    let s1 = 1 / (0.25 + 1e-5 as Float).squareRoot()
    let expected = Self.input.scalars.enumerated().map { i, x in
      i % 2 == 0 ? (x - 1) * s0 + 0.5 : (x + 1) * s1 - 1
    }
    expectClose(harness.run().scalars, expected, relativeTolerance: 1e-5)
  }

  @Test(arguments: [[6, 3], [2, 2, 3, 3]])
  func gradientsMatchFiniteDifferences(shape: [Int]) {
    let result = checkGradients(batchSize: shape[0]) { builder in
      let x = builder.input(shape: shape, requiresGradient: true)
      return (builder.batchNorm(x, name: "bn"), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(shape): \(result)")
  }
}
