import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct ActivationTests {
  static let all: [Activation] = [
    .relu, .relu6, .selu, .tanh, .cos, .sin, .sigmoid, .silu, .gelu, .leakyRelu(slope: -0.5),
  ]

  @Test func valuesMatchTheirDefinitions() {
    #expect(Activation.relu(-2) == 0 && Activation.relu(3) == 3)
    #expect(Activation.relu6(7) == 6)
    #expect(Activation.leakyRelu(slope: -0.5)(-2) == 1)
    #expect(abs(Activation.selu(-1) - 1.050_701 * 1.673_263_2 * (Float(-0.632_120_56))) < 1e-6)
    #expect(abs(Activation.sigmoid(0) - 0.5) < 1e-7)
    #expect(abs(Activation.silu(1) - 0.731_058_6) < 1e-6)
    // jax.nn.gelu(1.0) with the tanh approximation.
    #expect(abs(Activation.gelu(1) - 0.841_192) < 1e-5)
  }

  @Test(arguments: all)
  func gradientsMatchFiniteDifferences(activation: Activation) {
    // Inputs chosen away from the kinks of relu, relu6 and leaky relu.
    let inputs: [Float] = [-2.3, -0.7, 0.4, 1.9, 3.1, 6.8, -4.2, 0.9]
    let result = checkGradients(batchSize: 2) { builder in
      let x = builder.input(shape: [2, 4], requiresGradient: true)
      return (builder.activation(activation, x), [x: Tensor(shape: [2, 4], scalars: inputs)])
    }
    #expect(result.worstRelativeError < 1e-3, "\(activation): \(result)")
  }
}
