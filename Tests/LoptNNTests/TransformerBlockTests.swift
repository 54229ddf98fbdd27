import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct TransformerBlockTests {
  @Test func keepsTheShapeAndNamesItsParameters() throws {
    var builder = GraphBuilder(batchSize: 2)
    let x = builder.input(shape: [2, 3, 4])
    let y = builder.transformerBlock(x, heads: 2, keySize: 3, name: "block")
    #expect(y.shape == [2, 3, 4])
    let loss = builder.meanSquaredError(y, target: x)
    let graph = try builder.build(loss: loss)
    #expect(
      graph.layout.names == [
        "block/attention_norm/scale", "block/attention_norm/offset",
        "block/attention/query/w", "block/attention/query/b",
        "block/attention/key/w", "block/attention/key/b",
        "block/attention/value/w", "block/attention/value/b",
        "block/attention/output/w", "block/attention/output/b",
        "block/mlp_norm/scale", "block/mlp_norm/offset",
        "block/mlp/linear_0/w", "block/mlp/linear_0/b",
        "block/mlp/linear_1/w", "block/mlp/linear_1/b",
      ])
    // The default MLP width is 4 · width.
    #expect(graph.layout.entries.first { $0.name == "block/mlp/linear_0/w" }?.shape == [4, 16])
  }

  @Test(arguments: [0, 0.25] as [Float])
  func gradientsMatchFiniteDifferences(dropoutRate: Float) {
    // Rows spread over ±1.5: with 4 features a random row can have so little spread that
    // LayerNorm bends sharply within the checker's 0.05 step.
    let spread = (0..<24).map { i in
      let (row, feature) = i.quotientAndRemainder(dividingBy: 4)
      return Float((row + feature) % 4) - 1.5
    }
    let result = checkGradients(batchSize: 2) { builder in
      let x = builder.input(shape: [2, 3, 4], requiresGradient: true)
      let y = builder.transformerBlock(
        x, heads: 2, keySize: 3, mlpWidth: 6, dropoutRate: dropoutRate, name: "block")
      return (y, [x: Tensor(shape: [2, 3, 4], scalars: spread)])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
