import Foundation
import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct AttentionTests {
  static let batch = 2, time = 3, width = 4, heads = 2, keySize = 3

  /// Self-attention over `x: [2, 3, 4]` followed by an MSE sink, with random parameters
  /// (biases included) and random inputs.
  private static func makeGraph() throws -> (Graph, ParameterSet, x: GraphValue, y: GraphValue) {
    var builder = GraphBuilder(batchSize: batch)
    let x = builder.input(shape: [batch, time, width])
    let y = builder.causalSelfAttention(x, heads: heads, keySize: keySize, name: "attention")
    let target = builder.input(shape: y.shape)
    let loss = builder.meanSquaredError(y, target: target)
    let graph = try builder.build(loss: loss)
    var parameters = graph.initialParameters(key: RandomKey(seed: 1))
    parameters.withUnsafeMutableBufferPointer {
      RandomKey(seed: 2).fillNormal($0, standardDeviation: 0.5)
    }
    var inputs = Tensor(shape: x.shape)
    inputs.withUnsafeMutableBufferPointer { RandomKey(seed: 3).fillNormal($0) }
    graph.setValue(x, to: inputs)
    return (graph, parameters, x, y)
  }

  /// `rows · W + b` in `Double` for row-major `rows` of width `W.shape[0]`.
  private static func dense(_ rows: [Double], _ w: Tensor, _ b: Tensor) -> [Double] {
    let (inputs, outputs) = (w.shape[0], w.shape[1])
    return (0..<(rows.count / inputs * outputs)).map { index in
      let (row, column) = index.quotientAndRemainder(dividingBy: outputs)
      var sum = Double(b[flat: column])
      for i in 0..<inputs { sum += rows[row * inputs + i] * Double(w[flat: i * outputs + column]) }
      return sum
    }
  }

  @Test func forwardMatchesDirectComputation() throws {
    let (graph, parameters, x, y) = try Self.makeGraph()
    _ = graph.forward(parameters)
    let (batch, time, heads, keySize) = (Self.batch, Self.time, Self.heads, Self.keySize)
    let inputs = graph.value(x).scalars.map(Double.init)
    func project(_ name: String) -> [Double] {
      Self.dense(inputs, parameters["attention/\(name)/w"], parameters["attention/\(name)/b"])
    }
    let (q, k, v) = (project("query"), project("key"), project("value"))
    let projected = heads * keySize
    var attended = [Double](repeating: 0, count: batch * time * projected)
    for b in 0..<batch {
      for h in 0..<heads {
        func at(_ t: Int, _ j: Int) -> Int { (b * time + t) * projected + h * keySize + j }
        for t in 0..<time {
          let scores = (0...t).map { s in
            (0..<keySize).reduce(0.0) { $0 + q[at(t, $1)] * k[at(s, $1)] }
              / Double(keySize).squareRoot()
          }
          let weights = scores.map { exp($0 - scores.max()!) }
          let total = weights.reduce(0, +)
          for s in 0...t {
            for j in 0..<keySize { attended[at(t, j)] += weights[s] / total * v[at(s, j)] }
          }
        }
      }
    }
    let expected = Self.dense(
      attended, parameters["attention/output/w"], parameters["attention/output/b"])
    expectClose(
      graph.value(y).scalars, expected.map(Float.init), relativeTolerance: 1e-5,
      absoluteTolerance: 1e-5)
  }

  @Test func laterTokensDoNotChangeEarlierOutputs() throws {
    let (graph, parameters, x, y) = try Self.makeGraph()
    _ = graph.forward(parameters)
    let before = graph.value(y).scalars
    var inputs = graph.value(x)
    for b in 0..<Self.batch {
      let last = (b * Self.time + Self.time - 1) * Self.width
      for j in 0..<Self.width { inputs[flat: last + j] += 3 }
    }
    graph.setValue(x, to: inputs)
    _ = graph.forward(parameters)
    let after = graph.value(y).scalars
    for index in before.indices {
      let t = index / Self.width % Self.time
      if t < Self.time - 1 {
        #expect(after[index] == before[index], "output \(index) at t = \(t) changed")
      } else {
        #expect(after[index] != before[index], "output \(index) at the last step did not change")
      }
    }
  }

  @Test func parametersHaveTheDocumentedNamesAndShapes() throws {
    let (graph, _, _, _) = try Self.makeGraph()
    let shapes = graph.layout.entries.map { "\($0.name) \($0.shape)" }
    #expect(
      shapes == [
        "attention/query/w [4, 6]", "attention/query/b [6]",
        "attention/key/w [4, 6]", "attention/key/b [6]",
        "attention/value/w [4, 6]", "attention/value/b [6]",
        "attention/output/w [6, 4]", "attention/output/b [4]",
      ])
  }

  @Test func gradientsMatchFiniteDifferences() {
    let result = checkGradients(batchSize: Self.batch) { builder in
      let x = builder.input(shape: [Self.batch, Self.time, Self.width], requiresGradient: true)
      return (
        builder.causalSelfAttention(x, heads: Self.heads, keySize: Self.keySize, name: "a"), [:]
      )
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
