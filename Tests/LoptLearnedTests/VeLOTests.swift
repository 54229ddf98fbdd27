import Foundation
import LoptCore
import LoptLearned
import LoptNN
import LoptOptimizers
import Testing

/// A small deterministic VeLO for tests (`H = 16`, `P = 8`).
private func smallVeLO(seed: UInt64 = 3) -> VeLO {
  VeLO(configuration: .small, key: RandomKey(seed: seed))
}

private func randomSet(_ layout: ParameterLayout, seed: UInt64, scale: Float) -> ParameterSet {
  ParameterSet(layout: layout, standardDeviation: scale, key: RandomKey(seed: seed))
}

/// Row-major strides of `shape`.
private func strides(_ shape: [Int]) -> [Int] {
  var result = [Int](repeating: 1, count: shape.count)
  for axis in stride(from: shape.count - 2, through: 0, by: -1) {
    result[axis] = result[axis + 1] * shape[axis + 1]
  }
  return result
}

/// The multi-index of flat index `i`.
private func multiIndex(_ i: Int, _ shape: [Int]) -> [Int] {
  zip(strides(shape), shape).map { i / $0 % $1 }
}

/// The flat index of `index` in `shape`.
private func flatIndex(_ index: [Int], _ shape: [Int]) -> Int {
  precondition(index.count == shape.count, "index \(index) for shape \(shape)")
  var flat = 0
  for (i, extent) in zip(index, shape) {
    precondition(i >= 0 && i < extent, "index \(index) for shape \(shape)")
    flat = flat * extent + i
  }
  return flat
}

@Suite struct VeLOTests {
  @Test func releasedConfigurationHasTheSpecParameterCount() {
    #expect(VeLO.metaParameterLayout(for: .init()).totalCount == 2_320_385)
    #expect(
      VeLO.metaParameterLayout(for: .init(lstmHiddenSize: 128, paramInits: 64)).totalCount
        == 162_305)
  }

  @Test func wrongMetaParametersAreRejectedByName() throws {
    let layout = ParameterLayout([("rnn_params.linear.w", [30, 16])])
    #expect(throws: VeLOError.missingMetaParameter(name: "ff_mod_stack.~.b0")) {
      try VeLO(configuration: .small, metaParameters: ParameterSet(layout: layout))
    }
    var tensors = VeLO.metaParameterLayout(for: .small).entries.map { ($0.name, $0.shape) }
    tensors[0].1 = [9, 4]
    #expect(
      throws: VeLOError.metaParameterShape(
        name: "ff_mod_stack.~.b0", expected: [8, 4], found: [9, 4])
    ) {
      try VeLO(
        configuration: .small, metaParameters: ParameterSet(layout: ParameterLayout(tensors)))
    }
    #expect(throws: VeLOError.self) {
      try VeLO(
        configuration: .init(ffHiddenSize: 8),
        metaParameters: ParameterSet(layout: VeLO.metaParameterLayout(for: .small)))
    }
  }

  @Test func initialMetaParametersFollowTheSpecDistributions() {
    let configuration = VeLO.Configuration.small
    let theta = VeLO.initialMetaParameters(for: configuration, key: RandomKey(seed: 1))
    for entry in theta.layout.entries {
      let values = theta[entry.name].scalars
      let leaf = entry.name.split(separator: ".").last!
      if leaf.hasPrefix("b") || entry.name.hasPrefix("lstm_init_state") {
        #expect(values.allSatisfy { $0 == 0 }, "\(entry.name) starts at zero")
      } else {
        let bound: Float =
          entry.name.contains("rnn/linear")
          ? 2 / Float(32).squareRoot()
          : leaf == "w1" || leaf == "w2"
            ? 1
            : entry.name.contains("rnn_to_controls") || entry.name.contains("step_size")
              ? 2 / Float(16).squareRoot() : 2 / Float(30).squareRoot()
        #expect(values.allSatisfy { abs($0) <= bound * 1.0001 }, "\(entry.name) is truncated")
        #expect(values.contains { $0 != 0 })
      }
    }
  }

  @Test func factoredAxesFollowTheStableSortRule() {
    let shapes: [[Int]] = [
      [], [7], [784, 32], [10, 10], [3, 3, 16, 32], [3, 3, 16, 16], [16, 16, 3, 3], [1, 512],
      [512, 1], [2, 3, 5],
    ]
    let expected: [(Int, Int)?] = [
      nil, nil, (0, 1), (1, 0), (3, 2), (3, 2), (1, 0), (1, 0), (0, 1), (2, 1),
    ]
    let layout = ParameterLayout(shapes.enumerated().map { ("t\($0.offset)", $0.element) })
    let state = smallVeLO().makeState(for: ParameterSet(layout: layout), totalSteps: 10)
    for (index, axes) in expected.enumerated() {
      let found = state.factoredAxes(ofTensor: index)
      #expect(found?.d0 == axes?.0 && found?.d1 == axes?.1, "shape \(shapes[index])")
    }
  }

  @Test func stateShapesFollowTheLayoutForRanksZeroToFour() {
    let shapes: [[Int]] = [[], [7], [784, 32], [3, 3, 16, 16], [1, 512], [2, 3, 5]]
    let layout = ParameterLayout(shapes.enumerated().map { ("t\($0.offset)", $0.element) })
    let state = smallVeLO().makeState(for: ParameterSet(layout: layout), totalSteps: 10)
    for (index, shape) in shapes.enumerated() {
      #expect(state.momentum(ofTensor: index).shape == shape + [3])
      #expect(state.rms(ofTensor: index).shape == shape + [1])
      if let (d0, d1) = state.factoredAxes(ofTensor: index) {
        var rows = shape
        rows.remove(at: d0)
        var columns = shape
        columns.remove(at: d1)
        #expect(state.factoredRows(ofTensor: index).shape == rows + [3])
        #expect(state.factoredColumns(ofTensor: index).shape == columns + [3])
        #expect(state.fullSecondMoment(ofTensor: index).shape == [0, 3])
      } else {
        #expect(state.fullSecondMoment(ofTensor: index).shape == shape + [3])
        #expect(state.factoredRows(ofTensor: index).shape == [0, 3])
      }
    }
    #expect(state.lstmHidden.count == shapes.count * 16)
  }

  /// Every factored-axis case (tied axes in both layouts, size-1 axes, rank 3 and 4, d0 before
  /// and after d1, with and without trailing axes) against a naive multi-index implementation
  /// of E3 and the row / column / Adafactor channels of E11, and the fused kernel's step
  /// against the traced step.
  @Test func factoredStatisticsMatchANaiveImplementationForAnyShape() throws {
    let shapes: [[Int]] = [
      [], [5], [1], [6, 4], [4, 6], [5, 5], [1, 9], [9, 1], [3, 3, 2, 2], [2, 2, 3, 3],
      [2, 3, 5], [5, 3, 2], [3, 5, 2], [4, 1, 4], [2, 4, 3, 4], [3, 17, 2], [2, 2, 2, 2, 3],
    ]
    let layout = ParameterLayout(shapes.enumerated().map { ("t\($0.offset)", $0.element) })
    let velo = smallVeLO()
    var parameters = randomSet(layout, seed: 5, scale: 0.5)
    var state = velo.makeState(for: parameters, totalSteps: 30)
    for step in 0..<3 {
      let gradients = randomSet(layout, seed: 100 + UInt64(step), scale: 0.1)
      // Naive E3 on the previous accumulators.
      var expectedRows: [[Float]] = []
      var expectedColumns: [[Float]] = []
      for (index, shape) in shapes.enumerated() {
        guard let (d0, d1) = state.factoredAxes(ofTensor: index) else {
          expectedRows.append([])
          expectedColumns.append([])
          continue
        }
        let g = gradients["t\(index)"].scalars
        var rowShape = shape
        rowShape.remove(at: d0)
        var columnShape = shape
        columnShape.remove(at: d1)
        var rowMean = [Double](repeating: 0, count: rowShape.reduce(1, *))
        var columnMean = [Double](repeating: 0, count: columnShape.reduce(1, *))
        for i in 0..<g.count {
          let q = Double(g[i] * g[i] + 1e-30)
          var index = multiIndex(i, shape)
          var r = index
          r.remove(at: d0)
          index.remove(at: d1)
          rowMean[flatIndex(r, rowShape)] += q / Double(shape[d0])
          columnMean[flatIndex(index, columnShape)] += q / Double(shape[d1])
        }
        let oldRows = state.factoredRows(ofTensor: index).scalars
        let oldColumns = state.factoredColumns(ofTensor: index).scalars
        let decays: [Float] = [0.9, 0.99, 0.999]
        expectedRows.append(
          oldRows.indices.map {
            decays[$0 % 3] * oldRows[$0] + (1 - decays[$0 % 3]) * Float(rowMean[$0 / 3])
          })
        expectedColumns.append(
          oldColumns.indices.map {
            decays[$0 % 3] * oldColumns[$0] + (1 - decays[$0 % 3]) * Float(columnMean[$0 / 3])
          })
      }
      let before = parameters
      let trace = VeLO.Trace(layout: layout)
      velo.update(&parameters, gradients: gradients, loss: 1, state: &state, trace: trace)
      for (index, shape) in shapes.enumerated() {
        let name = "t\(index)"
        // The fused kernel's step equals the traced step.
        let moved = zip(before[name].scalars, parameters[name].scalars).map { $0 - $1 }
        let largest = trace.updates[index].map { abs($0) }.max() ?? 0
        for (a, b) in zip(moved, trace.updates[index]) {
          #expect(abs(a - b) <= 1e-4 * largest + 1e-6, "step of \(shape)")
        }
        guard let (d0, d1) = state.factoredAxes(ofTensor: index) else { continue }
        let rows = state.factoredRows(ofTensor: index).scalars
        let columns = state.factoredColumns(ofTensor: index).scalars
        for (a, b) in zip(rows, expectedRows[index]) {
          #expect(abs(a - b) <= 1e-5 * abs(b) + 1e-12, "rows of \(shape)")
        }
        for (a, b) in zip(columns, expectedColumns[index]) {
          #expect(abs(a - b) <= 1e-5 * abs(b) + 1e-12, "columns of \(shape)")
        }
        // Naive ρ, γ and the per-element row / column / Adafactor channels.
        var rowShape = shape
        rowShape.remove(at: d0)
        var columnShape = shape
        columnShape.remove(at: d1)
        let d1InRow = d1 > d0 ? d1 - 1 : d1
        let g = gradients[name].scalars.map { min(max($0, -1000), 1000) }
        let m = state.momentum(ofTensor: index).scalars
        let raw = trace.mlpInputsRaw[index]
        for i in 0..<g.count {
          let full = multiIndex(i, shape)
          var r = full
          r.remove(at: d0)
          var c = full
          c.remove(at: d1)
          let ri = flatIndex(r, rowShape)
          let ci = flatIndex(c, columnShape)
          // ā: mean of r over axis d1 within the row shape, at this index.
          var mean = [Float](repeating: 0, count: 3)
          for j in 0..<rowShape[d1InRow] {
            var other = r
            other[d1InRow] = j
            for k in 0..<3 { mean[k] += rows[flatIndex(other, rowShape) * 3 + k] }
          }
          for k in 0..<3 {
            let rk = rows[ri * 3 + k]
            let ck = columns[ci * 3 + k]
            let abar = mean[k] / Float(rowShape[d1InRow])
            let rho = 1 / max(rk / (abar + 1e-9), 1e-9).squareRoot()
            let gamma = 1 / max(ck, 1e-9).squareRoot()
            let expected: [(Int, Float)] = [
              (11 + k, g[i] * rho * gamma), (15 + k, rk), (18 + k, ck),
              (21 + k, 1 / (rk + 1e-8).squareRoot()), (24 + k, 1 / (ck + 1e-8).squareRoot()),
              (27 + k, m[i * 3 + k] * rho * gamma),
            ]
            for (channel, value) in expected {
              let found = raw[i * 30 + channel]
              #expect(
                abs(found - value) <= 1e-5 * abs(value) + 1e-30,
                "channel \(channel) of \(shape) at \(full): \(found) vs \(value)")
            }
          }
        }
      }
    }
    #expect(parameters.isFinite)
  }

  @Test func updatesAreBitwiseDeterministicAndStateCopiesAreIndependent() {
    let layout = ParameterLayout([("w", [6, 5]), ("b", [5]), ("s", [])])
    let velo = smallVeLO()
    var a = randomSet(layout, seed: 1, scale: 0.3)
    var b = a
    var stateA = velo.makeState(for: a, totalSteps: 20)
    var stateB = velo.makeState(for: b, totalSteps: 20)
    for step in 0..<4 {
      let gradients = randomSet(layout, seed: 10 + UInt64(step), scale: 0.1)
      velo.update(&a, gradients: gradients, loss: 2 - Float(step) * 0.1, state: &stateA)
      velo.update(&b, gradients: gradients, loss: 2 - Float(step) * 0.1, state: &stateB)
    }
    #expect(a.flat.scalars.map(\.bitPattern) == b.flat.scalars.map(\.bitPattern))
    // A copied state advances independently (copy-on-write).
    var copy = stateA
    var c = a
    let gradients = randomSet(layout, seed: 99, scale: 0.1)
    velo.update(&c, gradients: gradients, loss: 1, state: &copy)
    #expect(stateA.iteration == 4 && copy.iteration == 5)
    velo.update(&a, gradients: gradients, loss: 1, state: &stateA)
    #expect(a.flat.scalars.map(\.bitPattern) == c.flat.scalars.map(\.bitPattern))
  }

  @Test func resumingFromASavedStateIsBitwiseIdentical() throws {
    let layout = ParameterLayout([("w", [5, 3]), ("b", [3]), ("s", []), ("k", [2, 2, 3])])
    let velo = smallVeLO()
    var straight = randomSet(layout, seed: 1, scale: 0.3)
    var resumed = straight
    var stateA = velo.makeState(for: straight, totalSteps: 10)
    var stateB = velo.makeState(for: resumed, totalSteps: 10)
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-velo-state-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    for step in 0..<6 {
      let gradients = randomSet(layout, seed: 20 + UInt64(step), scale: 0.1)
      let loss = 3 - Float(step) * 0.2
      velo.update(&straight, gradients: gradients, loss: loss, state: &stateA)
      velo.update(&resumed, gradients: gradients, loss: loss, state: &stateB)
      if step == 2 {
        try velo.saveState(stateB, to: url)
        stateB = try velo.loadState(from: url, for: resumed, totalSteps: 10)
        #expect(stateB.iteration == 3)
      }
    }
    #expect(straight.flat.scalars.map(\.bitPattern) == resumed.flat.scalars.map(\.bitPattern))
    let other = ParameterSet(layout: ParameterLayout([("w", [4, 3])]))
    #expect(throws: (any Error).self) {
      _ = try velo.loadState(from: url, for: other, totalSteps: 10)
    }
  }

  /// States saved before `accumulator_means` existed get the means recomputed from the
  /// accumulators: the run continues as if uninterrupted, up to float rounding.
  @Test func aStateWithoutAccumulatorMeansRecomputesThem() throws {
    let layout = ParameterLayout([("w", [5, 3]), ("b", [3]), ("k", [2, 2, 3])])
    let velo = smallVeLO()
    var straight = randomSet(layout, seed: 1, scale: 0.3)
    var state = velo.makeState(for: straight, totalSteps: 10)
    var resumed = straight
    var resumedState = state
    for step in 0..<6 {
      let gradients = randomSet(layout, seed: 40 + UInt64(step), scale: 0.1)
      if step == 3 {
        var file = SafetensorsFile()
        state.write(into: &file, prefix: "")
        file["accumulator_means"] = nil
        resumed = straight
        resumedState = velo.makeState(for: resumed, totalSteps: 10)
        try resumedState.restore(from: file, prefix: "")
      }
      velo.update(&straight, gradients: gradients, loss: 2, state: &state)
      if step >= 3 { velo.update(&resumed, gradients: gradients, loss: 2, state: &resumedState) }
    }
    for (x, y) in zip(straight.flat.scalars, resumed.flat.scalars) {
      #expect(abs(x - y) <= 1e-5 * max(abs(x), 1e-3), "\(x) vs \(y)")
    }
    #expect(state.lstmInputs.count == resumedState.lstmInputs.count)
  }

  @Test func nonFiniteInputSkipsTheUpdate() {
    let layout = ParameterLayout([("w", [3, 2])])
    let velo = smallVeLO()
    var parameters = randomSet(layout, seed: 1, scale: 0.3)
    let original = parameters
    var state = velo.makeState(for: parameters, totalSteps: 10)
    velo.update(
      &parameters, gradients: randomSet(layout, seed: 2, scale: 1), loss: .nan, state: &state)
    var gradients = randomSet(layout, seed: 2, scale: 1)
    gradients["w"] = Tensor(shape: [3, 2], scalars: [1, .infinity, 0, 0, 0, 0])
    velo.update(&parameters, gradients: gradients, loss: 1, state: &state)
    #expect(parameters == original)
    #expect(state.iteration == 0 && state.skippedUpdates == 2)
  }

  @Test func zeroSizedAndAllZeroTensorsStayFinite() {
    let layout = ParameterLayout([("empty", [0, 4]), ("zeros", [4, 3]), ("s", [])])
    let velo = smallVeLO()
    var parameters = ParameterSet(layout: layout)
    var state = velo.makeState(for: parameters, totalSteps: 5)
    for _ in 0..<3 {
      velo.update(&parameters, gradients: ParameterSet(layout: layout), loss: 1, state: &state)
    }
    #expect(parameters.isFinite)
  }

  /// Random meta-parameters on a small classifier (Gaussian blobs, 64 fixed samples in 4
  /// batches) for 1000 steps: the loss and parameters stay finite (the loss need not fall).
  @Test(.timeLimit(.minutes(2)))
  func randomMetaParametersTrainAnMLPWithoutNaN() throws {
    let (batch, features, classes, samples) = (16, 4, 3, 64)
    var builder = GraphBuilder(batchSize: batch)
    let inputs = builder.input(shape: [batch, features])
    let labels = builder.input(shape: [batch])
    let logits = builder.mlp(
      inputs, hiddenWidths: [16], outputCount: classes, activation: .relu, name: "mlp")
    let loss = builder.softmaxCrossEntropy(logits: logits, labels: labels)
    let graph = try builder.build(loss: loss)
    let key = RandomKey(seed: 42)
    var parameters = graph.initialParameters(key: key)
    var gradients = parameters.zerosLike()
    let centres = (0..<(classes * features)).map { key.folding(in: 1).normal(at: $0) }
    var x = [Float](repeating: 0, count: samples * features)
    var y = [Float](repeating: 0, count: samples)
    let dataKey = key.folding(in: 2)
    for i in 0..<samples {
      let label = i % classes
      y[i] = Float(label)
      for j in 0..<features {
        x[i * features + j] = centres[label * features + j] + 0.5 * dataKey.normal(at: i * 8 + j)
      }
    }
    let batches = (0..<(samples / batch)).map { b in
      (
        Tensor(
          shape: [batch, features],
          scalars: Array(x[(b * batch * features)..<((b + 1) * batch * features)])),
        Tensor(shape: [batch], scalars: Array(y[(b * batch)..<((b + 1) * batch)]))
      )
    }
    let velo = VeLO(configuration: .small, key: RandomKey(seed: 7))
    var state = velo.makeState(for: parameters, totalSteps: 1000)
    var (first, last): (Float, Float) = (0, 0)
    for step in 0..<1000 {
      graph.setValue(inputs, to: batches[step % batches.count].0)
      graph.setValue(labels, to: batches[step % batches.count].1)
      let loss = graph.lossAndGradient(parameters, into: &gradients)
      #expect(loss.isFinite, "loss at step \(step)")
      if step == 0 { first = loss }
      last = loss
      velo.update(&parameters, gradients: gradients, loss: loss, state: &state)
    }
    #expect(parameters.isFinite)
    #expect(state.skippedUpdates == 0 && state.iteration == 1000)
    print("VeLO (random θ, H 16, P 8) on a 4-16-3 MLP: loss \(first) → \(last) after 1000 steps")
  }

  @Test func metaParametersCanBeChangedInPlaceForEvolutionStrategies() throws {
    var velo = smallVeLO()
    let layout = ParameterLayout([("w", [4, 3])])
    var a = randomSet(layout, seed: 1, scale: 0.3)
    var b = a
    let gradients = randomSet(layout, seed: 2, scale: 0.1)
    var stateA = velo.makeState(for: a, totalSteps: 10)
    velo.update(&a, gradients: gradients, loss: 1, state: &stateA)
    velo.metaParameters.withUnsafeMutableBufferPointer { theta in
      for i in theta.indices { theta[i] *= 1.5 }
    }
    var stateB = velo.makeState(for: b, totalSteps: 10)
    velo.update(&b, gradients: gradients, loss: 1, state: &stateB)
    #expect(a != b)
  }
}
