import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct LSTMTests {
  /// A graph `lstm(x) → MSE against a target`, so the op can run forward on its own.
  private static func makeGraph(
    batch: Int, time: Int, inputCount: Int, hiddenCount: Int
  ) throws -> (graph: Graph, x: GraphValue, y: GraphValue) {
    var builder = GraphBuilder(batchSize: batch)
    let x = builder.input(shape: [batch, time, inputCount])
    let y = builder.lstm(x, hiddenCount: hiddenCount, name: "lstm")
    let target = builder.input(shape: y.shape)
    let loss = builder.meanSquaredError(y, target: target)
    return (try builder.build(loss: loss), x, y)
  }

  @Test func cellKernelMatchesHandComputedStep() {
    // Distinct pre-activations per gate block (i, g, f, o), two hidden units, one row.
    let gates: [Float] = [0.5, -1.0, -0.3, 0.9, 0.2, -0.6, 0.8, -1.5]
    let previousCell: [Float] = [0.5, -0.25]
    var hidden = [Float](repeating: 0, count: 2)
    var cell = [Float](repeating: 0, count: 2)
    lstmCellForward(
      gates: gates, previousCell: previousCell, hidden: &hidden, cell: &cell,
      rows: 1, hiddenCount: 2)
    // c = σ(f + 1)·c_prev + σ(i)·tanh(g), h = σ(o)·tanh(c), evaluated in Python.
    expectClose(cell, [0.202_932_14, 0.042_970_25])
    expectClose(hidden, [0.138_127_09, 0.007_834_05])

    // The cell may be updated in place.
    var state = previousCell
    state.withUnsafeMutableBufferPointer { c in
      lstmCellForward(
        gates: gates, previousCell: c.baseAddress!, hidden: &hidden, cell: c.baseAddress!,
        rows: 1, hiddenCount: 2)
    }
    expectClose(state, cell)
  }

  @Test func oneStepMatchesHandComputedValues() throws {
    let (graph, x, y) = try Self.makeGraph(batch: 1, time: 1, inputCount: 1, hiddenCount: 1)
    var parameters = graph.initialParameters(key: RandomKey(seed: 0))
    // Row 0 multiplies x, row 1 multiplies h_prev; columns are the (i, g, f, o) gates.
    parameters["lstm/w"] = Tensor(
      shape: [2, 4], scalars: [0.2, -0.3, 0.4, 0.1, 0.5, 0.6, -0.7, 0.8])
    parameters["lstm/b"] = Tensor([0.1, 0.9, -0.3, 0.4])
    parameters["lstm/initial_hidden"] = Tensor([-0.4])
    parameters["lstm/initial_cell"] = Tensor([0.3])
    graph.setValue(x, to: Tensor(shape: [1, 1, 1], scalars: [0.5]))
    _ = graph.forward(parameters)
    // z = [0.5, -0.4]·W + b = (0, 0.51, 0.18, 0.13); c = σ(1.18)·0.3 + σ(0)·tanh(0.51).
    // A different gate order gives 0.120–0.239, no forget bias 0.2016, x and h swapped 0.3921.
    expectClose(graph.value(y), Tensor(shape: [1, 1, 1], scalars: [0.230_930_63]))
  }

  @Test func unrolledOperationMatchesTheCellKernel() throws {
    let (batch, time, inputCount, hiddenCount) = (2, 3, 3, 2)
    let (graph, x, y) = try Self.makeGraph(
      batch: batch, time: time, inputCount: inputCount, hiddenCount: hiddenCount)
    var parameters = graph.initialParameters(key: RandomKey(seed: 1))
    parameters.withUnsafeMutableBufferPointer {
      RandomKey(seed: 2).fillNormal($0, standardDeviation: 0.5)
    }
    var inputs = Tensor(shape: x.shape)
    inputs.withUnsafeMutableBufferPointer { RandomKey(seed: 3).fillNormal($0) }
    graph.setValue(x, to: inputs)
    _ = graph.forward(parameters)
    let output = graph.value(y)

    let weight = parameters["lstm/w"]
    let bias = parameters["lstm/b"].scalars
    var hidden = (0..<batch).flatMap { _ in parameters["lstm/initial_hidden"].scalars }
    var cell = (0..<batch).flatMap { _ in parameters["lstm/initial_cell"].scalars }
    for t in 0..<time {
      var rows: [Float] = []
      for b in 0..<batch {
        let start = (b * time + t) * inputCount
        rows += inputs.scalars[start..<(start + inputCount)]
        rows += hidden[(b * hiddenCount)..<((b + 1) * hiddenCount)]
      }
      let products = Tensor(shape: [batch, inputCount + hiddenCount], scalars: rows)
        .matmul(weight).scalars
      let gates = products.indices.map { products[$0] + bias[$0 % (4 * hiddenCount)] }
      let previousCell = cell
      lstmCellForward(
        gates: gates, previousCell: previousCell, hidden: &hidden, cell: &cell,
        rows: batch, hiddenCount: hiddenCount)
      for b in 0..<batch {
        let start = (b * time + t) * hiddenCount
        expectClose(
          Array(output.scalars[start..<(start + hiddenCount)]),
          Array(hidden[(b * hiddenCount)..<((b + 1) * hiddenCount)]))
      }
    }
  }

  @Test func gradientsMatchFiniteDifferences() {
    let result = checkGradients(batchSize: 2, parameterNoise: 0.3) { builder in
      let x = builder.input(shape: [2, 3, 2], requiresGradient: true)
      return (builder.lstm(x, hiddenCount: 2, name: "lstm"), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
