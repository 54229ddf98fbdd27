import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct EmbeddingTests {
  @Test func forwardCopiesTableRows() throws {
    var harness = try GraphHarness { builder in
      let ids = builder.input(shape: [2, 3])
      let y = builder.embedding(ids, vocabularySize: 4, embeddingSize: 2, name: "embed")
      return (y, [ids: Tensor(shape: [2, 3], scalars: [3, 0, 3, 1, 2, 0])])
    }
    harness.parameters["embed/embeddings"] = Tensor(
      shape: [4, 2], scalars: [0, 0.5, 10, 10.5, 20, 20.5, 30, 30.5])
    #expect(
      harness.run()
        == Tensor(
          shape: [2, 3, 2], scalars: [30, 30.5, 0, 0.5, 30, 30.5, 10, 10.5, 20, 20.5, 0, 0.5]))
  }

  @Test func tableGradientsAccumulateOverRepeatedIds() {
    let result = checkGradients { builder in
      let ids = builder.input(shape: [2, 3])
      let y = builder.embedding(ids, vocabularySize: 5, embeddingSize: 3, name: "embed")
      return (y, [ids: Tensor(shape: [2, 3], scalars: [4, 1, 4, 0, 4, 1])])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func tableGradientIsTheScatteredOutputGradient() throws {
    var builder = GraphBuilder(batchSize: 2)
    let ids = builder.input(shape: [2, 2])
    let loss = builder.sum(
      builder.embedding(ids, vocabularySize: 3, embeddingSize: 2, name: "embed"))
    let graph = try builder.build(loss: loss)
    graph.setValue(ids, to: Tensor(shape: [2, 2], scalars: [2, 2, 0, 2]))
    let parameters = graph.initialParameters(key: RandomKey(seed: 0))
    var gradients = parameters.zerosLike()
    _ = graph.lossAndGradient(parameters, into: &gradients)
    // Row 2 is used three times, row 0 once, row 1 never.
    #expect(gradients["embed/embeddings"].scalars == [1, 1, 0, 0, 3, 3])
  }
}
