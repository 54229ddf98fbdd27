import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct LinearTests {
  @Test func forwardMatchesHandComputedValues() throws {
    var builder = GraphBuilder(batchSize: 2)
    let x = builder.input(shape: [2, 3])
    let y = builder.linear(x, outputCount: 2, name: "dense")
    let labels = builder.input(shape: [2])
    let loss = builder.softmaxCrossEntropy(logits: y, labels: labels)
    let graph = try builder.build(loss: loss)
    var parameters = graph.initialParameters(key: RandomKey(seed: 1))
    parameters["dense/w"] = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
    parameters["dense/b"] = Tensor([0.5, -0.5])
    graph.setValue(x, to: Tensor(shape: [2, 3], scalars: [1, 0, -1, 2, 1, 0]))
    _ = graph.forward(parameters)
    // Row 1: [1 − 5, 2 − 6] + b; row 2: [2 + 3, 4 + 4] + b.
    expectClose(graph.value(y), Tensor(shape: [2, 2], scalars: [-3.5, -4.5, 5.5, 7.5]))
  }

  @Test(arguments: [true, false])
  func gradientsMatchFiniteDifferences(hasBias: Bool) {
    let result = checkGradients(batchSize: 3) { builder in
      let x = builder.input(shape: [3, 4], requiresGradient: true)
      return (builder.linear(x, outputCount: 5, name: "dense", hasBias: hasBias), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func gradientsFlowThroughRankThreeInputs() {
    let result = checkGradients(batchSize: 2) { builder in
      let x = builder.input(shape: [2, 3, 4], requiresGradient: true)
      return (builder.linear(x, outputCount: 2, name: "dense"), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}

@Suite struct MLPTests {
  @Test func namesLayersAndChecksGradients() {
    var names: [String] = []
    let result = checkGradients(batchSize: 2) { builder in
      let x = builder.input(shape: [2, 3], requiresGradient: true)
      let y = builder.mlp(x, hiddenWidths: [4, 3], outputCount: 2, activation: .tanh, name: "m")
      names = builder.parameterNames
      return (y, [:])
    }
    #expect(
      names == [
        "m/linear_0/w", "m/linear_0/b", "m/linear_1/w", "m/linear_1/b",
        "m/linear_2/w", "m/linear_2/b",
      ])
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
