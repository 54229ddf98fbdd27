import Foundation
import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct LossTests {
  /// Builds a graph over input slots of the given shapes, sets them, and returns the loss
  /// (no parameters: the losses have none).
  private static func evaluate(
    _ values: [Tensor], _ loss: (inout GraphBuilder, [GraphValue]) -> GraphValue
  ) throws -> Double {
    var builder = GraphBuilder(batchSize: values[0].shape[0])
    let inputs = values.map { builder.input(shape: $0.shape) }
    let output = loss(&builder, inputs)
    let graph = try builder.build(loss: output)
    for (input, value) in zip(inputs, values) { graph.setValue(input, to: value) }
    return Double(graph.forward(ParameterSet(layout: graph.layout)))
  }

  private static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var tensor = Tensor(shape: shape)
    tensor.withUnsafeMutableBufferPointer {
      RandomKey(seed: seed).fillNormal($0, standardDeviation: scale)
    }
    return tensor
  }

  @Test func meanSquaredErrorIsTheMeanOfSquares() throws {
    let prediction = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let target = Tensor(shape: [2, 3], scalars: [0, 2, 1, 4, 7, 3])
    let loss = try Self.evaluate([prediction, target]) { $0.meanSquaredError($1[0], target: $1[1]) }
    // Squared errors 1, 0, 4, 0, 4, 9.
    #expect(abs(loss - 3) < 1e-6)
  }

  @Test func logMeanSquaredErrorAveragesOverTheAxisFirst() throws {
    let (outer, axis, inner) = (2, 3, 2)
    let prediction = Self.random([outer, axis, inner], seed: 1)
    let target = Self.random([outer, axis, inner], seed: 2)
    let loss = try Self.evaluate([prediction, target]) {
      $0.meanSquaredError($1[0], target: $1[1], logOfMeanOverAxis: 1)
    }
    var expected = 0.0
    for o in 0..<outer {
      for i in 0..<inner {
        let squares = (0..<axis).map { a in
          let index = (o * axis + a) * inner + i
          return pow(Double(prediction[flat: index] - target[flat: index]), 2)
        }
        expected += log(squares.reduce(0, +) / Double(axis) + 1e-8) / Double(outer * inner)
      }
    }
    #expect(abs(loss - expected) < 1e-5, "\(loss) vs \(expected)")
  }

  @Test func gaussianLogLikelihoodIsTheNegativeLogDensity() throws {
    let (x, mean) = (Self.random([2, 3], seed: 1), Self.random([2, 3], seed: 2))
    let logSigma = Self.random([2, 3], seed: 3, scale: 0.5)
    let loss = try Self.evaluate([x, mean, logSigma]) {
      $0.gaussianLogLikelihood($1[0], mean: $1[1], logStandardDeviation: $1[2])
    }
    var expected = 0.0
    for i in 0..<6 {
      let sigma = exp(Double(logSigma[flat: i]))
      let error = Double(x[flat: i] - mean[flat: i])
      expected -= log(exp(-error * error / (2 * sigma * sigma)) / (sigma * sqrt(2 * Double.pi)))
    }
    #expect(abs(loss - expected / 2) < 1e-5, "\(loss) vs \(expected / 2)")

    // At the mean of a standard normal each feature costs ½ ln(2π) = 0.918 938 5.
    let zeros = Tensor(shape: [2, 3])
    let atMean = try Self.evaluate([zeros, zeros, zeros]) {
      $0.gaussianLogLikelihood($1[0], mean: $1[1], logStandardDeviation: $1[2])
    }
    #expect(abs(atMean - 3 * 0.918_938_5) < 1e-6)
  }

  @Test func gaussianKLMatchesTheClosedForm() throws {
    // Row 0: KL(N(1, 4) ‖ N(0, 1)) = ½(1 + 4 − 1 − 2 ln 2) = 2 − ln 2; row 1: N(0, 1), KL 0.
    let mean = Tensor(shape: [2, 1], scalars: [1, 0])
    let logSigma = Tensor(shape: [2, 1], scalars: [Float(log(2.0)), 0])
    let loss = try Self.evaluate([mean, logSigma]) {
      $0.gaussianKL(mean: $1[0], logStandardDeviation: $1[1])
    }
    #expect(abs(loss - (2 - log(2.0)) / 2) < 1e-6, "\(loss)")
  }

  @Test(arguments: [nil, 1] as [Int?])
  func meanSquaredErrorGradientsMatchFiniteDifferences(axis: Int?) {
    let result = checkGradients { builder in
      let prediction = builder.input(shape: [2, 3, 2], requiresGradient: true)
      let target = builder.input(shape: [2, 3, 2], requiresGradient: true)
      return (builder.meanSquaredError(prediction, target: target, logOfMeanOverAxis: axis), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func gaussianLogLikelihoodGradientsMatchFiniteDifferences() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3], requiresGradient: true)
      let mean = builder.input(shape: [2, 3], requiresGradient: true)
      let logSigma = builder.input(shape: [2, 3], requiresGradient: true)
      let loss = builder.gaussianLogLikelihood(x, mean: mean, logStandardDeviation: logSigma)
      return (loss, [logSigma: Self.random([2, 3], seed: 4, scale: 0.3)])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func gaussianKLGradientsMatchFiniteDifferences() {
    let result = checkGradients { builder in
      let mean = builder.input(shape: [2, 3], requiresGradient: true)
      let logSigma = builder.input(shape: [2, 3], requiresGradient: true)
      return (builder.gaussianKL(mean: mean, logStandardDeviation: logSigma), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
