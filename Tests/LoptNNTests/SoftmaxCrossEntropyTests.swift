import Foundation
import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct SoftmaxCrossEntropyTests {
  @Test func lossMatchesHandComputedValue() throws {
    var builder = GraphBuilder(batchSize: 2)
    let logits = builder.input(shape: [2, 3])
    let labels = builder.input(shape: [2])
    let loss = builder.softmaxCrossEntropy(logits: logits, labels: labels)
    let graph = try builder.build(loss: loss)
    graph.setValue(logits, to: Tensor(shape: [2, 3], scalars: [1, 2, 3, 0, 0, 0]))
    graph.setValue(labels, to: Tensor([2, 1]))
    let value = graph.forward(ParameterSet(layout: graph.layout))
    let expected = ((log(exp(1.0) + exp(2.0) + exp(3.0)) - 3) + log(3.0)) / 2
    #expect(abs(Double(value) - expected) < 1e-6)
  }

  @Test(arguments: [false, true])
  func gradientsMatchFiniteDifferences(masked: Bool) {
    let result = checkGradients(batchSize: 4) { builder in
      let logits = builder.input(shape: [4, 5], requiresGradient: true)
      let labels = builder.input(shape: [4])
      let mask = masked ? builder.input(shape: [4]) : nil
      var fixed = [labels: Tensor([0, 3, 4, 1])]
      if let mask { fixed[mask] = Tensor([1, 0, 1, 1]) }
      return (builder.softmaxCrossEntropy(logits: logits, labels: labels, mask: mask), fixed)
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func maskedRowsDoNotCount() throws {
    var builder = GraphBuilder(batchSize: 2)
    let logits = builder.input(shape: [2, 2])
    let labels = builder.input(shape: [2])
    let mask = builder.input(shape: [2])
    let loss = builder.softmaxCrossEntropy(logits: logits, labels: labels, mask: mask)
    let graph = try builder.build(loss: loss)
    graph.setValue(logits, to: Tensor(shape: [2, 2], scalars: [0, 0, 5, -5]))
    graph.setValue(labels, to: Tensor([0, 1]))
    graph.setValue(mask, to: Tensor([1, 0]))
    #expect(abs(graph.forward(ParameterSet(layout: graph.layout)) - Float(log(2.0))) < 1e-6)
  }
}
