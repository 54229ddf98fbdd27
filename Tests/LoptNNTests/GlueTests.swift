import Foundation
import LoptCore
import LoptNN
import LoptTestSupport
import Testing

/// A graph around one value under test, shared by the layer tests in this target.
///
/// The loss is the value's sum, the named inputs are filled once, and the parameters start
/// from their initializers (key 0).
struct GraphHarness {
  let graph: Graph
  let output: GraphValue
  var parameters: ParameterSet

  init(
    batchSize: Int = 2,
    _ build: (inout GraphBuilder) -> (output: GraphValue, inputs: [GraphValue: Tensor])
  ) throws {
    var builder = GraphBuilder(batchSize: batchSize)
    let (output, inputs) = build(&builder)
    let loss = builder.sum(output)
    graph = try builder.build(loss: loss)
    self.output = output
    for (input, values) in inputs { graph.setValue(input, to: values) }
    parameters = graph.initialParameters(key: RandomKey(seed: 0))
  }

  /// Runs one forward pass and returns the value under test.
  func run(isTraining: Bool = false, key: RandomKey = RandomKey(seed: 0)) -> Tensor {
    _ = graph.forward(parameters, isTraining: isTraining, key: key)
    return graph.value(output)
  }
}

@Suite struct GlueTests {
  /// Inputs at least 0.3 from ±1 (well beyond the checker's ±2 × 0.05 stencil).
  static let awayFromBounds: [Float] = [-2.1, -0.6, 0.2, 1.5, -1.4, 0.7, 2.6, -0.1]

  @Test func multiplyAndScaleAndClipForward() throws {
    let a = Tensor(shape: [2, 2], scalars: [1, -2, 3, 0.5])
    let b = Tensor(shape: [2, 2], scalars: [4, 5, -1, 2])
    let harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 2])
      let y = builder.input(shape: [2, 2])
      let product = builder.multiply(x, y)
      let results = [product, builder.scale(product, by: -0.5), builder.clip(product, to: -1...3)]
      return (builder.concatenate(results), [x: a, y: b])
    }
    // Each row: the product, the product times −0.5, the product clipped to [−1, 3].
    #expect(
      harness.run()
        == Tensor(shape: [2, 6], scalars: [4, -10, -2, 5, 3, -1, -3, 1, 1.5, -0.5, -1, 1]))
  }

  @Test func multiplyGradients() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3], requiresGradient: true)
      let y = builder.input(shape: [2, 3], requiresGradient: true)
      return (builder.multiply(x, y), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func multiplyingAValueByItselfCollectsBothGradients() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3], requiresGradient: true)
      return (builder.multiply(x, x), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test(arguments: [PointwiseFunction.scale(-1.5), .clip(-1...1)])
  func pointwiseGradients(function: PointwiseFunction) {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 4], requiresGradient: true)
      let y: GraphValue
      switch function {
      case .scale(let factor): y = builder.scale(x, by: factor)
      case .clip(let range): y = builder.clip(x, to: range)
      }
      return (y, [x: Tensor(shape: [2, 4], scalars: Self.awayFromBounds)])
    }
    #expect(result.worstRelativeError < 1e-3, "\(function): \(result)")
  }

  @Test func clipBlocksTheGradientOutsideTheRange() throws {
    var builder = GraphBuilder(batchSize: 2)
    let x = builder.input(shape: [2, 4], requiresGradient: true)
    let loss = builder.sum(builder.clip(x, to: -1...1))
    let graph = try builder.build(loss: loss)
    graph.setValue(x, to: Tensor(shape: [2, 4], scalars: Self.awayFromBounds))
    var gradients = ParameterSet(layout: graph.layout)
    _ = graph.lossAndGradient(ParameterSet(layout: graph.layout), into: &gradients)
    #expect(graph.gradient(of: x)?.scalars == [0, 1, 1, 0, 0, 1, 0, 1])
  }

  @Test func concatenateForwardAlongLastAndMiddleAxes() throws {
    let a = Tensor(shape: [2, 1, 2], scalars: [1, 2, 3, 4])
    let b = Tensor(shape: [2, 1, 2], scalars: [5, 6, 7, 8])
    var middle: GraphValue?
    let harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 1, 2])
      let y = builder.input(shape: [2, 1, 2])
      middle = builder.concatenate([x, y], axis: 1)
      return (builder.concatenate([x, y]), [x: a, y: b])
    }
    #expect(harness.run() == Tensor(shape: [2, 1, 4], scalars: [1, 2, 5, 6, 3, 4, 7, 8]))
    #expect(
      harness.graph.value(middle!) == Tensor(shape: [2, 2, 2], scalars: [1, 2, 5, 6, 3, 4, 7, 8]))
  }

  @Test(arguments: [-1, 1, 0])
  func concatenateGradients(axis: Int) {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3, 2], requiresGradient: true)
      let y = builder.input(shape: [2, 3, 2], requiresGradient: true)
      let z = builder.input(shape: [2, 3, 2], requiresGradient: true)
      return (builder.concatenate([x, y, z], axis: axis), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "axis \(axis): \(result)")
  }

  @Test func sliceForwardAndGradients() throws {
    let harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 4])
      return (
        builder.slice(x, lastAxis: 1..<3),
        [x: Tensor(shape: [2, 4], scalars: (0..<8).map(Float.init))]
      )
    }
    #expect(harness.run() == Tensor(shape: [2, 2], scalars: [1, 2, 5, 6]))
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3, 6], requiresGradient: true)
      // Both halves of a VAE encoder output, used together as the sample's arguments.
      let mean = builder.slice(x, lastAxis: 0..<3)
      let logSigma = builder.slice(x, lastAxis: 3..<6)
      return (builder.multiply(mean, logSigma), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func broadcastAddForward() throws {
    let harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 2, 3])
      let bias = builder.input(shape: [2, 3])
      let values = Tensor(shape: [2, 2, 3], scalars: (0..<12).map(Float.init))
      return (
        builder.broadcastAdd(x, .value(bias)),
        [x: values, bias: Tensor(shape: [2, 3], scalars: [10, 20, 30, 40, 50, 60])]
      )
    }
    #expect(
      harness.run().scalars == [10, 21, 32, 43, 54, 65, 16, 27, 38, 49, 60, 71])
  }

  @Test(arguments: [false, true])
  func broadcastAddGradients(addsAParameter: Bool) {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3, 4], requiresGradient: true)
      let addend: GraphOperand =
        addsAParameter
        ? .parameter(
          builder.parameter("pos", shape: [3, 4], initializer: .normal(standardDeviation: 1)))
        : .value(builder.input(shape: [4], requiresGradient: true))
      return (builder.broadcastAdd(x, addend), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func broadcastTilesAClassToken() throws {
    var harness = try GraphHarness { builder in
      let token = builder.parameter("cls", shape: [1, 3], initializer: .zeros)
      return (builder.broadcast(.parameter(token), to: [2, 1, 3]), [:])
    }
    harness.parameters["cls"] = Tensor(shape: [1, 3], scalars: [1, 2, 3])
    #expect(harness.run() == Tensor(shape: [2, 1, 3], scalars: [1, 2, 3, 1, 2, 3]))
    let result = checkGradients { builder in
      let token = builder.parameter("cls", shape: [1, 3], initializer: .zeros)
      let patches = builder.input(shape: [2, 4, 3], requiresGradient: true)
      let tokens = builder.concatenate(
        [builder.broadcast(.parameter(token), to: [2, 1, 3]), patches], axis: 1)
      return (tokens, [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func sumAndMeanForward() throws {
    var parts: [GraphValue] = []
    let harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 3, 2])
      parts = [
        builder.sum(x), builder.mean(x), builder.mean(x, axes: 1..<2), builder.sum(x, axes: 0..<2),
      ]
      return (x, [x: Tensor(shape: [2, 3, 2], scalars: (1...12).map(Float.init))])
    }
    _ = harness.run()
    let graph = harness.graph
    #expect(graph.value(parts[0]) == Tensor(shape: [1], scalars: [78]))
    #expect(graph.value(parts[1]) == Tensor(shape: [1], scalars: [6.5]))
    // Means over the middle axis: (1 + 3 + 5) / 3, (2 + 4 + 6) / 3, then the second batch item.
    #expect(graph.value(parts[2]) == Tensor(shape: [2, 2], scalars: [3, 4, 9, 10]))
    #expect(graph.value(parts[3]) == Tensor(shape: [2], scalars: [36, 42]))
  }

  @Test(arguments: [nil, 0..<1, 1..<3, 2..<3] as [Range<Int>?])
  func reductionGradients(axes: Range<Int>?) {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3, 4], requiresGradient: true)
      return (builder.mean(x, axes: axes), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "axes \(String(describing: axes)): \(result)")
  }

  @Test func patchifyForward() throws {
    // One 4 × 4 image with two channels; element (y, x, c) holds 100·y + 10·x + c.
    var pixels: [Float] = []
    for y in 0..<4 {
      for x in 0..<4 { for c in 0..<2 { pixels.append(Float(100 * y + 10 * x + c)) } }
    }
    let harness = try GraphHarness(batchSize: 1) { builder in
      let x = builder.input(shape: [1, 4, 4, 2])
      return (builder.patchify(x, patchSize: 2), [x: Tensor(shape: [1, 4, 4, 2], scalars: pixels)])
    }
    let patches = harness.run()
    #expect(patches.shape == [1, 4, 8])
    // Patch 1 is the top-right block: rows 0–1, columns 2–3, each pixel's two channels in turn.
    #expect(Array(patches.scalars[8..<16]) == [20, 21, 30, 31, 120, 121, 130, 131])
    // Patch 2 is the bottom-left block.
    #expect(Array(patches.scalars[16..<24]) == [200, 201, 210, 211, 300, 301, 310, 311])
  }

  @Test func patchifyGradients() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 4, 6, 2], requiresGradient: true)
      return (builder.patchify(x, patchSize: 2), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }

  @Test func gaussianSampleIsDeterministicPerKeyAndHasTheRightMoments() throws {
    let count = 4096
    var builder = GraphBuilder(batchSize: 1)
    let mean = builder.input(shape: [1, count])
    let logSigma = builder.input(shape: [1, count])
    let sample = builder.gaussianSample(mean: mean, logStandardDeviation: logSigma)
    let loss = builder.sum(sample)
    let graph = try builder.build(loss: loss)
    graph.setValue(mean, to: Tensor(shape: [1, count], repeating: 1))
    graph.setValue(logSigma, to: Tensor(shape: [1, count], repeating: Float(log(2.0))))
    let parameters = ParameterSet(layout: graph.layout)
    _ = graph.forward(parameters, key: RandomKey(seed: 3))
    let first = graph.value(sample)
    _ = graph.forward(parameters, key: RandomKey(seed: 3))
    #expect(graph.value(sample) == first)
    _ = graph.forward(parameters, key: RandomKey(seed: 4))
    #expect(graph.value(sample) != first)
    // (y − 1) / 2 should be standard normal.
    let noise = first.scalars.map { Double($0 - 1) / 2 }
    let noiseMean = noise.reduce(0, +) / Double(count)
    let noiseVariance =
      noise.map { ($0 - noiseMean) * ($0 - noiseMean) }.reduce(0, +) / Double(count)
    #expect(abs(noiseMean) < 0.07, "mean \(noiseMean)")
    #expect(abs(noiseVariance - 1) < 0.1, "variance \(noiseVariance)")
  }

  @Test func gaussianSampleGradients() {
    let result = checkGradients { builder in
      let mean = builder.input(shape: [2, 3], requiresGradient: true)
      let logSigma = builder.input(shape: [2, 3], requiresGradient: true)
      return (builder.gaussianSample(mean: mean, logStandardDeviation: logSigma), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
