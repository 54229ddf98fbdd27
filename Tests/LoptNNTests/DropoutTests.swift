import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct DropoutTests {
  static let count = 10_000

  private static func makeHarness(rate: Float) throws -> GraphHarness {
    try GraphHarness(batchSize: 1) { builder in
      let x = builder.input(shape: [1, count])
      return (builder.dropout(x, rate: rate), [x: Tensor(shape: [1, count], repeating: 2)])
    }
  }

  @Test func evaluationModeIsTheIdentity() throws {
    let harness = try Self.makeHarness(rate: 0.3)
    #expect(harness.run(key: RandomKey(seed: 5)) == Tensor(shape: [1, Self.count], repeating: 2))
  }

  @Test(arguments: [0.1, 0.3, 0.5] as [Float])
  func trainingModeKeepsAboutOneMinusRateAndRescales(rate: Float) throws {
    let harness = try Self.makeHarness(rate: rate)
    let output = harness.run(isTraining: true, key: RandomKey(seed: 5)).scalars
    let kept = output.filter { $0 != 0 }
    // Kept elements are 2 / (1 − rate) exactly; the standard error of the fraction is < 0.005.
    #expect(kept.allSatisfy { $0 == 2 / (1 - rate) })
    let fraction = Float(kept.count) / Float(Self.count)
    #expect(abs(fraction - (1 - rate)) < 0.02, "kept \(fraction) at rate \(rate)")
  }

  @Test func theMaskDependsOnlyOnTheStepKey() throws {
    let harness = try Self.makeHarness(rate: 0.5)
    let first = harness.run(isTraining: true, key: RandomKey(seed: 5))
    _ = harness.run(isTraining: true, key: RandomKey(seed: 6))
    #expect(harness.run(isTraining: true, key: RandomKey(seed: 5)) == first)
    #expect(harness.run(isTraining: true, key: RandomKey(seed: 6)) != first)
  }

  @Test func twoDropoutsInOneGraphDrawDifferentMasks() throws {
    var outputs: [GraphValue] = []
    let harness = try GraphHarness(batchSize: 1) { builder in
      let x = builder.input(shape: [1, 64])
      outputs = [builder.dropout(x, rate: 0.5), builder.dropout(x, rate: 0.5)]
      return (outputs[0], [x: Tensor(shape: [1, 64], repeating: 1)])
    }
    _ = harness.run(isTraining: true)
    #expect(harness.graph.value(outputs[0]) != harness.graph.value(outputs[1]))
  }

  @Test func rateZeroAddsNothing() {
    var builder = GraphBuilder(batchSize: 1)
    let x = builder.input(shape: [1, 4])
    #expect(builder.dropout(x, rate: 0) == x)
  }

  @Test func gradientsMatchFiniteDifferences() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 8], requiresGradient: true)
      return (builder.dropout(x, rate: 0.4), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
