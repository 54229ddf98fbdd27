import Foundation
import LoptCore
import LoptOptimizers
import Testing

@testable import LoptLearned

/// ScheduledAdamLOpt against a plain, element-by-element Double implementation of its
/// documented formula, written here independently of the optimizer's passes.
@Suite struct ScheduledAdamLOptTests {
  /// A matrix, a vector and a 3-D tensor, so both step paths and the RMS floor are used.
  static let layout = ParameterLayout([
    (name: "w", shape: [5, 7]), (name: "b", shape: [7]), (name: "k", shape: [2, 3, 4]),
  ])

  static func normal(_ key: UInt64, scale: Float) -> ParameterSet {
    ParameterSet(layout: layout, standardDeviation: scale, key: RandomKey(seed: key))
  }

  /// The formula in Double, one step, from the optimizer's documentation.
  struct Reference {
    let configuration: ScheduledAdamLOpt.Configuration
    let theta: ParameterSet
    var m: [Double]
    var v: [Double]
    var means = [Double](repeating: 0, count: 10)
    var minimum = [Double](repeating: 999_999_999_999.0, count: 10)
    var iteration = 0
    let totalSteps: Int
    var references: [String: Double] = [:]

    init(
      configuration: ScheduledAdamLOpt.Configuration, theta: ParameterSet, count: Int,
      totalSteps: Int
    ) {
      self.configuration = configuration
      self.theta = theta
      m = [Double](repeating: 0, count: count)
      v = m
      self.totalSteps = totalSteps
    }

    func value(_ name: String, _ i: Int) -> Double { Double(theta[name].scalars[i]) }

    mutating func lossFeatures(_ loss: Double) -> [Double] {
      let top = log10(Double(totalSteps))
      let decays = (0..<10).map { exp(-1 / pow(10, 1 + Double($0) * (top - 1) / 9)) }
      let t = Double(iteration)
      let corrections = decays.map { 1 - pow($0, t + 1) }
      var largest = zip(means, corrections).map { $0 / $1 }.max()!
      if iteration == 0 { largest = loss }
      let clipped = min(2 * abs(largest), loss)
      for j in 0..<10 {
        means[j] = decays[j] * means[j] + (1 - decays[j]) * clipped
        minimum[j] = min(minimum[j], means[j] / corrections[j])
      }
      return (0..<9).map { j in
        guard iteration + 1 > 2 else { return 0 }
        let current = means[j] / corrections[j] - minimum[j]
        let next = means[j + 1] / corrections[j + 1] - minimum[j]
        return min(max(current / max(1e-8, next) - 1, -1), 1)
      }
    }

    func mlp(_ input: [Double], prefix: String, layers: Int, activation: (Double) -> Double)
      -> [Double]
    {
      var x = input
      for layer in 0..<layers {
        let shape = theta[prefix + "w\(layer)"].shape
        x = (0..<shape[1]).map { j in
          var sum = value(prefix + "b\(layer)", j)
          for i in 0..<shape[0] { sum += x[i] * value(prefix + "w\(layer)", i * shape[1] + j) }
          return layer < layers - 1 ? activation(sum) : sum
        }
      }
      return x
    }

    /// Muon's Newton–Schulz iteration in Double on the row-major `rows × columns` matrix `x`,
    /// transposed to be wide first, as optax does.
    static func orthogonalized(_ x: [Double], rows: Int, columns: Int) -> [Double] {
      let tall = rows > columns
      let (r, c) = tall ? (columns, rows) : (rows, columns)
      var y = tall ? (0..<x.count).map { x[($0 % rows) * columns + $0 / rows] } : x
      let norm = y.map { $0 * $0 }.reduce(0, +).squareRoot() + 1e-8
      y = y.map { $0 / norm }
      let (a, b, cc) = (3.4445, -4.7750, 2.0315)
      for _ in 0..<5 {
        let gram = (0..<(r * r)).map { k in
          (0..<c).reduce(0.0) { $0 + y[(k / r) * c + $1] * y[(k % r) * c + $1] }
        }
        let square = (0..<(r * r)).map { k in
          (0..<r).reduce(0.0) { $0 + gram[(k / r) * r + $1] * gram[$1 * r + k % r] }
        }
        let poly = (0..<(r * r)).map { b * gram[$0] + cc * square[$0] }
        y = (0..<(r * c)).map { k in
          a * y[k] + (0..<r).reduce(0.0) { $0 + poly[(k / c) * r + $1] * y[$1 * c + k % c] }
        }
      }
      return tall ? (0..<y.count).map { y[($0 % columns) * rows + $0 / columns] } : y
    }

    mutating func step(_ p: inout [Double], _ g: [Double], loss: Double) {
      let c = configuration
      let fraction = Double(Float(iteration) / Float(totalSteps))
      let warmup = Int((Double(c.warmupFraction) * Double(totalSteps)).rounded())
      let schedule: Double =
        iteration < warmup
        ? Double(iteration) / Double(warmup)
        : 0.5 * (1 + cos(Double.pi * Double(iteration - warmup) / Double(totalSteps - warmup)))
      let loss = lossFeatures(loss)
      let step = Double(iteration + 1)
      let (b1, b2, eps) = (Double(c.beta1), Double(c.beta2), Double(c.epsilon))
      for entry in layout.entries {
        let range = entry.offset..<(entry.offset + entry.count)
        var d = [Double](), u = [Double]()
        let isVector = entry.shape.filter { $0 > 1 }.count <= 1
        if c.matrixDirection == .orthogonalized && !isVector {
          let beta = 0.95
          for i in range {
            m[i] = beta * m[i] + (1 - beta) * g[i]
            d.append(
              beta * m[i] / (1 - pow(beta, step + 1)) + (1 - beta) * g[i] / (1 - pow(beta, step)))
          }
          let columns = entry.shape.last!
          d = Self.orthogonalized(d, rows: entry.count / columns, columns: columns)
            .map { $0 * Double(max(entry.count / columns, columns)).squareRoot() }
        } else {
          for i in range {
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            let inverse = 1 / ((v[i] / (1 - pow(b2, step))).squareRoot() + eps)
            d.append(m[i] / (1 - pow(b1, step)) * inverse)
            u.append(g[i] * inverse)
          }
        }
        func rms(_ x: [Double]) -> Double {
          (x.map { $0 * $0 }.reduce(0, +) / Double(x.count)).squareRoot()
        }
        let (pr, gr, mr) = (
          rms(range.map { p[$0] }), rms(range.map { g[$0] }), rms(range.map { m[$0] })
        )
        let thresholds = [0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1]
        let input =
          thresholds.map { tanh(10 * (fraction - $0)) } + loss
          + [pr, gr, rms(d)].map { 0.1 * log(max($0, 1e-10)) } + [
            isVector ? 1 : 0, tanh(log10(Double(totalSteps) / 1000)),
          ]
        let out = mlp(input, prefix: "controller.", layers: 2, activation: tanh)
        var logStep: Double
        if isVector {
          logStep =
            log(Double(c.initialVectorLearningRate)) + 10 * value("log_learning_rate", 1)
            + out[0]
        } else {
          logStep =
            log(Double(c.initialLearningRate)) + 10 * value("log_learning_rate", 0) + out[0]
            + (Double(c.initialScaleExponent) + out[1])
            * log(
              min(
                max(pr, Double(c.minimumScale)),
                Double(c.maximumScaleGrowth)
                  * max(references[entry.name, default: pr], Double(c.minimumScale))))
          references[entry.name] = references[entry.name, default: pr]
        }
        let eta = exp(min(max(logStep, -30), 3)) * schedule
        let scales = [gr, pr, mr, rms(d), rms(u)].map { 1 / max($0, 1e-20) }
        let broadcast = [0.1, 0.5, 0.9].map { tanh(10 * (fraction - $0)) }
        for (k, i) in range.enumerated() {
          var r = 0.0
          if c.residualHiddenSize > 0 {
            let features = zip([g[i], p[i], m[i], d[k], u[k]], scales).map { $0 * $1 }
            r =
              mlp(
                features + broadcast, prefix: "residual.", layers: c.residualHiddenLayers + 1,
                activation: { max($0, 0) })[0]
          }
          p[i] -= eta * (d[k] + r)
        }
      }
      iteration += 1
    }
  }

  /// Runs `steps` steps of the optimizer and of the reference from the same start.
  static func compare(
    _ configuration: ScheduledAdamLOpt.Configuration, theta: ParameterSet, steps: Int,
    totalSteps: Int, tolerance: Double
  ) throws {
    let optimizer = try ScheduledAdamLOpt(configuration: configuration, metaParameters: theta)
    var parameters = normal(1, scale: 0.3)
    // One tensor entirely below the RMS floor.
    parameters["k"] = Tensor(shape: [2, 3, 4], repeating: 1e-5)
    var reference = Reference(
      configuration: configuration, theta: theta, count: parameters.count, totalSteps: totalSteps)
    var expected = parameters.flat.scalars.map(Double.init)
    var state = optimizer.makeState(for: parameters, totalSteps: totalSteps)
    for step in 0..<steps {
      let gradients = normal(100 + UInt64(step), scale: 0.5)
      let loss = Float(2 - 0.1 * Double(step) + 0.05 * sin(Double(step)))
      optimizer.update(&parameters, gradients: gradients, loss: loss, state: &state)
      reference.step(
        &expected, gradients.flat.scalars.map(Double.init), loss: Double(loss))
      let actual = parameters.flat.scalars
      let scale = expected.map(abs).max()!
      let error = zip(actual, expected).map { abs(Double($0) - $1) }.max()!
      #expect(error <= tolerance * scale, "step \(step): error \(error), scale \(scale)")
    }
  }

  @Test func initialMetaParametersAreAdamWithTheScheduleAndScaleRelativeMatrices() throws {
    let configuration = ScheduledAdamLOpt.Configuration()
    let theta = ScheduledAdamLOpt.initialMetaParameters(
      for: configuration, key: RandomKey(seed: 3))
    let optimizer = try ScheduledAdamLOpt(configuration: configuration, metaParameters: theta)
    #expect(!optimizer.hasResidual)
    try Self.compare(configuration, theta: theta, steps: 12, totalSteps: 40, tolerance: 2e-5)
  }

  @Test func everyMetaParameterMatchesTheReference() throws {
    let configuration = ScheduledAdamLOpt.Configuration(
      maximumScaleGrowth: 1.02, controllerHiddenSize: 5, residualHiddenSize: 6,
      residualHiddenLayers: 2)
    let layout = ScheduledAdamLOpt.metaParameterLayout(for: configuration)
    let theta = ParameterSet(layout: layout, standardDeviation: 0.3, key: RandomKey(seed: 9))
    let optimizer = try ScheduledAdamLOpt(configuration: configuration, metaParameters: theta)
    #expect(optimizer.hasResidual)
    try Self.compare(configuration, theta: theta, steps: 12, totalSteps: 30, tolerance: 1e-4)
  }

  @Test func orthogonalizedMatricesStepAlongMuonsDirection() throws {
    let configuration = ScheduledAdamLOpt.Configuration(
      initialLearningRate: 0.03, controllerHiddenSize: 5, residualHiddenSize: 0,
      residualHiddenLayers: 0, matrixDirection: .orthogonalized)
    let layout = ScheduledAdamLOpt.metaParameterLayout(for: configuration)
    let theta = ParameterSet(layout: layout, standardDeviation: 0.3, key: RandomKey(seed: 5))
    try Self.compare(configuration, theta: theta, steps: 12, totalSteps: 30, tolerance: 1e-4)
  }

  @Test func theResidualCanBeLeftOut() throws {
    let configuration = ScheduledAdamLOpt.Configuration(residualHiddenSize: 0)
    let layout = ScheduledAdamLOpt.metaParameterLayout(for: configuration)
    #expect(!layout.entries.contains { $0.name.hasPrefix("residual") })
    let theta = ParameterSet(layout: layout, standardDeviation: 0.2, key: RandomKey(seed: 4))
    try Self.compare(configuration, theta: theta, steps: 6, totalSteps: 20, tolerance: 2e-5)
  }

  @Test func aNonFiniteLossLeavesTheLossFeaturesAlone() throws {
    let configuration = ScheduledAdamLOpt.Configuration()
    let theta = ScheduledAdamLOpt.initialMetaParameters(
      for: configuration, key: RandomKey(seed: 3))
    let optimizer = try ScheduledAdamLOpt(configuration: configuration, metaParameters: theta)
    var parameters = Self.normal(1, scale: 0.3)
    var state = optimizer.makeState(for: parameters, totalSteps: 10)
    let gradients = Self.normal(2, scale: 0.5)
    optimizer.update(&parameters, gradients: gradients, loss: 1, state: &state)
    let means = state.lossMeans
    optimizer.update(&parameters, gradients: gradients, loss: .nan, state: &state)
    #expect(state.lossMeans == means)
    #expect(state.iteration == 2)
    #expect(parameters.isFinite)
  }

  @Test func restoredStateContinuesBitIdentically() throws {
    let configuration = ScheduledAdamLOpt.Configuration(residualHiddenSize: 4)
    let layout = ScheduledAdamLOpt.metaParameterLayout(for: configuration)
    let theta = ParameterSet(layout: layout, standardDeviation: 0.2, key: RandomKey(seed: 5))
    let optimizer = try ScheduledAdamLOpt(configuration: configuration, metaParameters: theta)
    var parameters = Self.normal(1, scale: 0.3)
    var state = optimizer.makeState(for: parameters, totalSteps: 20)
    for step in 0..<5 {
      optimizer.update(
        &parameters, gradients: Self.normal(10 + UInt64(step), scale: 0.5), loss: 1,
        state: &state)
    }
    var file = SafetensorsFile(metadata: [:])
    state.write(into: &file, prefix: "s/")
    var restored = optimizer.makeState(for: parameters, totalSteps: 20)
    try restored.restore(from: try SafetensorsFile(bytes: file.serialized()), prefix: "s/")
    var copy = parameters
    for step in 5..<9 {
      let gradients = Self.normal(10 + UInt64(step), scale: 0.5)
      optimizer.update(&parameters, gradients: gradients, loss: 0.5, state: &state)
      optimizer.update(&copy, gradients: gradients, loss: 0.5, state: &restored)
    }
    #expect(parameters.flat.scalars == copy.flat.scalars)
    var other = optimizer.makeState(for: parameters, totalSteps: 21)
    #expect(throws: SafetensorsError.self) {
      try other.restore(from: try SafetensorsFile(bytes: file.serialized()), prefix: "s/")
    }
  }

  @Test func checkpointsRoundTripWithTheirConfiguration() throws {
    let configuration = ScheduledAdamLOpt.Configuration(initialLearningRate: 0.07)
    let theta = ScheduledAdamLOpt.initialMetaParameters(
      for: configuration, key: RandomKey(seed: 1))
    let checkpoint = try Checkpoint(
      configuration: .scheduledAdam(configuration), metaParameters: theta,
      metaTrainingStep: 12, metaTrainingCoreHours: 0.5)
    let decoded = try Checkpoint.decode(checkpoint.encoded(as: .safetensors))
    #expect(decoded == checkpoint)
    #expect(decoded.kind == .scheduledAdam)
    #expect(try decoded.makeOptimizer() is ScheduledAdamLOpt)
  }

  @Test(arguments: [
    ScheduledAdamLOpt.Configuration(initialLearningRate: 0),
    ScheduledAdamLOpt.Configuration(initialVectorLearningRate: .nan),
    ScheduledAdamLOpt.Configuration(initialScaleExponent: 9),
    ScheduledAdamLOpt.Configuration(minimumScale: 0),
    ScheduledAdamLOpt.Configuration(maximumScaleGrowth: 0.5),
    ScheduledAdamLOpt.Configuration(warmupFraction: 1),
    ScheduledAdamLOpt.Configuration(beta2: 1),
    ScheduledAdamLOpt.Configuration(epsilon: -1),
    ScheduledAdamLOpt.Configuration(controllerHiddenSize: 0),
    ScheduledAdamLOpt.Configuration(residualHiddenSize: 1 << 40),
    ScheduledAdamLOpt.Configuration(residualHiddenLayers: -1),
    ScheduledAdamLOpt.Configuration(matrixDirection: .orthogonalized),
  ])
  func badConfigurationsAreRejected(_ configuration: ScheduledAdamLOpt.Configuration) {
    #expect(throws: ArchitectureError.self) {
      _ = try ScheduledAdamLOpt(
        configuration: configuration,
        metaParameters: ParameterSet(layout: ParameterLayout([(name: "x", shape: [1])])))
    }
  }
}
