import Foundation
import LoptCore
import LoptOptimizers
import Testing

@testable import LoptLearned

/// The C per-parameter kernel against a plain Double implementation of MLPLOpt's and AdafacMLP's
/// documented step, on tensors larger and more varied than the reference fixtures': many blocks
/// and chunks, partial blocks, sums over more than one block of 1024, factored axes with
/// elements after them (`inner` > 1), ties, rank 0 to 4.
@Suite struct PerParameterKernelTests {
  static let layout = ParameterLayout([
    ("a", [70, 45]), ("b", [1100]), ("c", [3, 3, 17, 40]), ("d", [40, 17, 3, 3]),
    ("e", [2, 3, 5]), ("f", []), ("g", [33]), ("h", [1, 300]), ("i", [6, 6]),
  ])

  /// Random meta-parameters with non-zero biases and decay offsets.
  static func perturbed(_ theta: ParameterSet, seed: UInt64) -> ParameterSet {
    var result = theta
    let noise = ParameterSet(
      layout: theta.layout, standardDeviation: 0.05, key: RandomKey(seed: seed))
    result.withUnsafeMutableBufferPointer { t in
      noise.withUnsafeBufferPointer { n in
        for i in 0..<t.count { t[i] += n[i] }
      }
    }
    return result
  }

  /// Parameters, and gradients whose scale differs per step (σ 0.1 · 3^step).
  static func inputs(step: Int) -> (ParameterSet, ParameterSet) {
    let parameters = ParameterSet(
      layout: layout, standardDeviation: 0.5, key: RandomKey(seed: 100))
    let gradients = ParameterSet(
      layout: layout, standardDeviation: 0.1 * pow(3, Float(step)),
      key: RandomKey(seed: 200 + UInt64(step)))
    return (parameters, gradients)
  }

  @Test func adafacMLPMatchesThePlainFormula() throws {
    let configuration = AdafacMLP.Configuration()
    let theta = Self.perturbed(
      AdafacMLP.initialMetaParameters(for: configuration, key: RandomKey(seed: 5)), seed: 6)
    let optimizer = try AdafacMLP(configuration: configuration, metaParameters: theta)
    let (before, gradients, parameters, state, recorded) = try Self.tracedStep(
      optimizer, after: 2)
    for (index, entry) in Self.layout.entries.enumerated() {
      var plain = PlainTensor(
        shape: entry.shape, parameters: before.parameters[entry.name].scalars,
        gradients: gradients[entry.name].scalars, k: configuration.decayCount)
      plain.momentum = before.state.momentum[entry.name].scalars.map(Double.init)
      plain.rms = before.state.rms[entry.name].scalars.map(Double.init)
      plain.diagonal = before.state.diagonal[entry.name].scalars.map(Double.init)
      plain.rows = before.state.factoredRows[entry.name].scalars.map(Double.init)
      plain.columns = before.state.factoredColumns[entry.name].scalars.map(Double.init)
      plain.adafacStep(
        decays: optimizer.decays, network: Self.network(theta, AdafacMLP.self, configuration),
        iteration: 2)
      let context = "tensor \(entry.name) \(entry.shape) (\(index))"
      Self.expectFeatures(recorded.features[index], plain.features, context)
      Self.expectClose(
        parameters[entry.name].scalars, plain.parameters, before.parameters[entry.name].scalars,
        context)
      for (name, actual, expected) in [
        ("momentum", state.momentum, plain.momentum), ("rms", state.rms, plain.rms),
        ("diagonal", state.diagonal, plain.diagonal), ("rows", state.factoredRows, plain.rows),
        ("columns", state.factoredColumns, plain.columns),
      ] {
        Self.expectRelative(actual[entry.name].scalars, expected, 1e-5, "\(name) \(context)")
      }
    }
  }

  @Test func mlpLOptMatchesThePlainFormula() throws {
    let configuration = MLPLOpt.Configuration()
    let theta = Self.perturbed(
      MLPLOpt.initialMetaParameters(for: configuration, key: RandomKey(seed: 7)), seed: 8)
    let optimizer = try MLPLOpt(configuration: configuration, metaParameters: theta)
    let (before, gradients, parameters, state, recorded) = try Self.tracedStep(
      optimizer, after: 1)
    for (index, entry) in Self.layout.entries.enumerated() {
      var plain = PlainTensor(
        shape: entry.shape, parameters: before.parameters[entry.name].scalars,
        gradients: gradients[entry.name].scalars, k: configuration.momentumDecays.count)
      plain.momentum = before.state.momentum[entry.name].scalars.map(Double.init)
      plain.mlpStep(
        decays: configuration.momentumDecays,
        network: Self.network(theta, MLPLOpt.self, configuration), iteration: 1)
      let context = "tensor \(entry.name) \(entry.shape)"
      Self.expectFeatures(recorded.features[index], plain.features, context)
      Self.expectClose(
        parameters[entry.name].scalars, plain.parameters, before.parameters[entry.name].scalars,
        context)
      Self.expectRelative(
        state.momentum[entry.name].scalars, plain.momentum, 1e-6, "momentum \(context)")
    }
  }

  /// `warmup` untraced steps on ``inputs(step:)``, then one traced step on the next gradients:
  /// the parameters and state before it, its gradients, the parameters and state after it, and
  /// its trace.
  static func tracedStep<O: TracedPerParameterOptimizer>(_ optimizer: O, after warmup: Int) throws
    -> (
      before: (parameters: ParameterSet, state: O.State), gradients: ParameterSet,
      parameters: ParameterSet, state: O.State, trace: PerParameterTrace
    )
  {
    var (parameters, _) = inputs(step: 0)
    var state = optimizer.makeState(for: parameters, totalSteps: 100)
    for step in 0..<warmup {
      optimizer.update(&parameters, gradients: inputs(step: step).1, loss: 1, state: &state)
    }
    let gradients = inputs(step: warmup).1
    let before = (parameters: parameters, state: state)
    var trace: PerParameterTrace? = PerParameterTrace()
    optimizer.update(&parameters, gradients: gradients, state: &state, trace: &trace)
    return (before, gradients, parameters, state, try #require(trace))
  }

  /// The step equals the plain one within 1e-4 of the largest update, beyond the rounding of
  /// the stored parameter (one ulp).
  static func expectClose(
    _ actual: [Float], _ expected: [Double], _ before: [Float], _ context: String
  ) {
    let updates = zip(before, expected).map { Double($0) - $1 }
    let largest = max(updates.map(abs).max() ?? 0, 1e-30)
    #expect(updates.contains { $0 != 0 }, "\(context): no update")
    let worst =
      zip(actual, expected).map { max(abs(Double($0) - $1) - Double($0.ulp), 0) }.max() ?? 0
    #expect(worst / largest < 1e-4, "\(context): parameters off by \(worst / largest)")
  }

  /// Every raw feature channel equals the plain one within 1e-5 of the channel's largest value.
  static func expectFeatures(_ actual: [Float], _ expected: [[Double]], _ context: String) {
    let width = expected.first?.count ?? 0
    #expect(actual.count == expected.count * width, "\(context): feature counts differ")
    for c in 0..<width {
      let column = expected.map { $0[c] }
      let traced = stride(from: c, to: actual.count, by: width).map { actual[$0] }
      expectRelative(traced, column, 1e-5, "feature \(c) of \(context)")
    }
  }

  static func expectRelative(
    _ actual: [Float], _ expected: [Double], _ tolerance: Double, _ context: String
  ) {
    #expect(actual.count == expected.count, "\(context): counts differ")
    let largest = max(expected.map(abs).max() ?? 0, 1e-30)
    let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
    #expect(worst / largest <= tolerance, "\(context): off by \(worst / largest)")
  }

  /// θ's dense layers as Double matrices, input first.
  static func network<O: LearnedOptimizer>(
    _ theta: ParameterSet, _ kind: O.Type, _ configuration: some Any
  ) -> [(w: [[Double]], b: [Double])] {
    let names: [(String, String)]
    if kind == MLPLOpt.self {
      let count = theta.layout.names.filter { $0.hasSuffix(".w") }.count
      names = (0..<count).map { ("mlp/~/linear_\($0).w", "mlp/~/linear_\($0).b") }
    } else {
      let count = theta.layout.names.filter { $0.hasPrefix("nn.~.w") }.count
      names = (0..<count).map { ("nn.~.w\($0)", "nn.~.b\($0)") }
    }
    return names.map { wName, bName in
      let w = theta[wName]
      let (fanIn, fanOut) = (w.shape[0], w.shape[1])
      let scalars = w.scalars
      return (
        w: (0..<fanIn).map { i in (0..<fanOut).map { Double(scalars[i * fanOut + $0]) } },
        b: theta[bName].scalars.map(Double.init)
      )
    }
  }
}

/// The optimizers whose step can record its intermediates.
protocol TracedPerParameterOptimizer: Optimizer {
  func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, state: inout State,
    trace: inout PerParameterTrace?)
}

extension MLPLOpt: TracedPerParameterOptimizer {}
extension AdafacMLP: TracedPerParameterOptimizer {}

/// One tensor's parameters and accumulators (decay-major, as the optimizers store them) and a
/// step computed element by element in Double from the documented formulas.
struct PlainTensor {
  let shape: [Int]
  var parameters: [Double]
  let gradients: [Double]
  let k: Int
  var momentum: [Double] = []
  var rms: [Double] = []
  var diagonal: [Double] = []
  var rows: [Double] = []
  var columns: [Double] = []
  /// The raw features of the last step, `[count][features]`.
  var features: [[Double]] = []

  init(shape: [Int], parameters: [Float], gradients: [Float], k: Int) {
    self.shape = shape
    self.parameters = parameters.map(Double.init)
    self.gradients = gradients.map(Double.init)
    self.k = k
  }

  var count: Int { parameters.count }

  static func rsqrt(_ x: Double) -> Double { 1 / x.squareRoot() }

  /// `m_j ← β_j m_j + (1 − β_j) g`.
  mutating func updateMomentum(_ decays: [Float]) {
    for j in 0..<k {
      let beta = Double(decays[j])
      for i in 0..<count {
        momentum[j * count + i] = beta * momentum[j * count + i] + (1 - beta) * gradients[i]
      }
    }
  }

  /// The flat index of `index`'s element in `shape` without `axis`.
  static func removing(_ axis: Int, from shape: [Int], index: Int) -> Int {
    var coordinates = [Int](repeating: 0, count: shape.count)
    var rest = index
    for a in shape.indices.reversed() {
      coordinates[a] = rest % shape[a]
      rest /= shape[a]
    }
    var result = 0
    for a in shape.indices where a != axis { result = result * shape[a] + coordinates[a] }
    return result
  }

  mutating func mlpStep(
    decays: [Float], network: [(w: [[Double]], b: [Double])], iteration: Int
  ) {
    updateMomentum(decays)
    let features = (0..<count).map { i in
      [gradients[i], parameters[i]] + (0..<k).map { momentum[$0 * count + i] }
    }
    apply(features: features, network: network, iteration: iteration)
  }

  mutating func adafacStep(
    decays: AdafacMLP.Decays, network: [(w: [[Double]], b: [Double])], iteration: Int
  ) {
    func clip(_ x: Float) -> Double { Double(min(max(x, 0), 1)) }
    updateMomentum(decays.momentum)
    let beta = clip(decays.rms)
    for i in 0..<count { rms[i] = beta * rms[i] + (1 - beta) * gradients[i] * gradients[i] }
    let squares = gradients.map { $0 * $0 + 1e-30 }
    // Per element and decay: the factor of the preconditioned gradient and momentum, and the
    // row, column and root features.
    var factor = [[Double]](repeating: [], count: count)
    var tableFeatures = [[Double]](repeating: [], count: count)
    if let axes = FactoredShape(shape: shape) {
      let rowShape = axes.rowShape(of: shape)
      let columnShape = axes.columnShape(of: shape)
      let (rowCount, columnCount) = (rowShape.reduce(1, *), columnShape.reduce(1, *))
      var rowMeans = [Double](repeating: 0, count: rowCount)
      var columnMeans = [Double](repeating: 0, count: columnCount)
      for i in 0..<count {
        rowMeans[Self.removing(axes.row, from: shape, index: i)] +=
          squares[i] / Double(shape[axes.row])
        columnMeans[Self.removing(axes.column, from: shape, index: i)] +=
          squares[i] / Double(shape[axes.column])
      }
      // The column axis's position within the row shape.
      let reducedColumn = axes.column > axes.row ? axes.column - 1 : axes.column
      for j in 0..<k {
        let beta = clip(decays.adafactor[j])
        for r in 0..<rowCount {
          rows[j * rowCount + r] = beta * rows[j * rowCount + r] + (1 - beta) * rowMeans[r]
        }
        for c in 0..<columnCount {
          columns[j * columnCount + c] =
            beta * columns[j * columnCount + c] + (1 - beta) * columnMeans[c]
        }
      }
      // Each row statistic's group (its index without the column axis) and the groups' means.
      let groupOf = (0..<rowCount).map { Self.removing(reducedColumn, from: rowShape, index: $0) }
      var groupMeans = [[Double]](
        repeating: [Double](repeating: 0, count: rowCount), count: k)
      for j in 0..<k {
        for r in 0..<rowCount {
          groupMeans[j][groupOf[r]] += rows[j * rowCount + r] / Double(shape[axes.column])
        }
      }
      for i in 0..<count {
        let r = Self.removing(axes.row, from: shape, index: i)
        let c = Self.removing(axes.column, from: shape, index: i)
        var f: [Double] = []
        var t = [[Double]](repeating: [], count: 4)
        for j in 0..<k {
          let row = rows[j * rowCount + r]
          let column = columns[j * columnCount + c]
          let rho = Self.rsqrt(max(row / (groupMeans[j][groupOf[r]] + 1e-9), 1e-9))
          let gamma = Self.rsqrt(max(column, 1e-9))
          f.append(rho * gamma)
          t[0].append(row)
          t[1].append(column)
          t[2].append(Self.rsqrt(row + 1e-8))
          t[3].append(Self.rsqrt(column + 1e-8))
        }
        factor[i] = f
        tableFeatures[i] = t.flatMap { $0 }
      }
    } else {
      for j in 0..<k {
        let beta = clip(decays.adafactor[j])
        for i in 0..<count {
          diagonal[j * count + i] = beta * diagonal[j * count + i] + (1 - beta) * squares[i]
        }
      }
      for i in 0..<count {
        let x = (0..<k).map { diagonal[$0 * count + i] }
        factor[i] = x.map { Self.rsqrt(max($0 + 1e-9, 1e-9)) }
        tableFeatures[i] = x + x + x.map { Self.rsqrt($0 + 1e-8) } + x.map { Self.rsqrt($0 + 1e-8) }
      }
    }
    let features = (0..<count).map { i -> [Double] in
      let m = (0..<k).map { momentum[$0 * count + i] }
      let u = Self.rsqrt(rms[i] + 1e-6)
      let facMomentum: [Double]
      if FactoredShape(shape: shape) != nil {
        facMomentum = zip(m, factor[i]).map { $0 * $1 }
      } else {
        facMomentum = (0..<k).map { m[$0] * Self.rsqrt(diagonal[$0 * count + i] + 1e-6) }
      }
      return [gradients[i], parameters[i]] + m + [rms[i]] + m.map { $0 * u } + [u]
        + factor[i].map { gradients[i] * $0 } + tableFeatures[i] + facMomentum
    }
    apply(features: features, network: network, iteration: iteration)
  }

  /// Normalises every feature channel over the tensor, appends the step features, runs the
  /// MLP and applies `p ← p − d · exp(0.001 a) · 0.001`.
  mutating func apply(
    features: [[Double]], network: [(w: [[Double]], b: [Double])], iteration: Int
  ) {
    self.features = features
    let channels = features.first?.count ?? 0
    let scales = (0..<channels).map { c in
      Self.rsqrt(1e-5 + features.reduce(0) { $0 + $1[c] * $1[c] } / Double(count))
    }
    let timescales: [Double] = [1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000]
    let stepFeatures = timescales.map { tanh(Double(iteration) / $0 - 1) }
    for i in 0..<count {
      var x = zip(features[i], scales).map { $0 * $1 } + stepFeatures
      for (layer, (w, b)) in network.enumerated() {
        var y = b
        for input in x.indices {
          for o in y.indices { y[o] += x[input] * w[input][o] }
        }
        x = layer + 1 < network.count ? y.map { max($0, 0) } : y
      }
      parameters[i] -= x[0] * exp(0.001 * x[1]) * 0.001
    }
  }
}
