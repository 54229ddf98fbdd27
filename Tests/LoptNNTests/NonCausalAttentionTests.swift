import LoptCore
import LoptNN
import LoptTestSupport
import Testing

/// The `isCausal: false` option of the attention core (a ViT encoder's full attention).
@Suite struct NonCausalAttentionTests {
  @Test func gradientsMatchFiniteDifferences() {
    let result = checkGradients(batchSize: 2) { builder in
      let x = builder.input(shape: [2, 3, 4], requiresGradient: true)
      return (
        builder.causalSelfAttention(x, heads: 2, keySize: 3, name: "a", isCausal: false), [:]
      )
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func everyPositionSeesTheLastToken() throws {
    var builder = GraphBuilder(batchSize: 1)
    let x = builder.input(shape: [1, 3, 4])
    let y = builder.causalSelfAttention(x, heads: 2, keySize: 3, name: "a", isCausal: false)
    let loss = builder.meanSquaredError(y, target: builder.input(shape: y.shape))
    let graph = try builder.build(loss: loss)
    let parameters = graph.initialParameters(key: RandomKey(seed: 1))
    var inputs = Tensor(shape: x.shape)
    inputs.withUnsafeMutableBufferPointer { RandomKey(seed: 2).fillNormal($0) }
    graph.setValue(x, to: inputs)
    _ = graph.forward(parameters)
    let before = graph.value(y).scalars
    for j in 0..<4 { inputs[flat: 8 + j] += 3 }
    graph.setValue(x, to: inputs)
    _ = graph.forward(parameters)
    let after = graph.value(y).scalars
    for index in before.indices { #expect(after[index] != before[index], "output \(index)") }
  }
}
