import Foundation
import LoptCore
import LoptOptimizers
import LoptTestSupport
import Testing

/// One reference run written by `scripts/make_optax_fixtures.py`.
struct OptimizerFixture: Decodable {
  struct TensorSpec: Decodable {
    var name: String
    var shape: [Int]
  }

  var name: String
  var optimizer: String
  var hyper: [String: HyperValue]
  var steps: Int
  var sampleLimit: Int
  var sampleStride: Int
  var tensors: [TensorSpec]
  /// Per step, per tensor: the (sampled) parameters after that step.
  var parameters: [[String: [Float]]]

  enum CodingKeys: String, CodingKey {
    case name, optimizer, hyper, steps, tensors, parameters
    case sampleLimit = "sample_limit"
    case sampleStride = "sample_stride"
  }

  /// A hyper-parameter: a number or a name.
  enum HyperValue: Decodable {
    case number(Float)
    case text(String)

    init(from decoder: any Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let number = try? container.decode(Float.self) {
        self = .number(number)
      } else {
        self = .text(try container.decode(String.self))
      }
    }
  }

  static func load(_ name: String) throws -> OptimizerFixture {
    let url = try #require(
      Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Resources"),
      "missing fixture \(name).json: run scripts/make_optax_fixtures.py")
    return try JSONDecoder().decode(OptimizerFixture.self, from: Data(contentsOf: url))
  }

  func number(_ key: String, default value: Float = 0) -> Float {
    if case .number(let x) = hyper[key] { return x }
    return value
  }

  func text(_ key: String) -> String? {
    if case .text(let x) = hyper[key] { return x }
    return nil
  }

  var layout: ParameterLayout { ParameterLayout(tensors.map { ($0.name, $0.shape) }) }

  /// The fixture's initial parameters: `cos(0.11·j + tensor index)`, as the script.
  var initialParameters: ParameterSet {
    values { index, j in cos(0.11 * Double(j) + Double(index)) }
  }

  /// The gradients of `step`: `sin(0.37·j + 1.7·step + 0.5·index) · (1 + 0.1·step)`.
  func gradients(step: Int) -> ParameterSet {
    values { index, j in
      sin(0.37 * Double(j) + 1.7 * Double(step) + 0.5 * Double(index)) * (1 + 0.1 * Double(step))
    }
  }

  private func values(_ formula: (Int, Int) -> Double) -> ParameterSet {
    let layout = self.layout
    var set = ParameterSet(layout: layout)
    for (index, entry) in layout.entries.enumerated() {
      set.withUnsafeMutableBufferPointer(ofTensor: index) { buffer in
        for j in 0..<entry.count { buffer[j] = Float(formula(index, j)) }
      }
    }
    return set
  }

  /// The elements of tensor `name` the fixture stores.
  func sampled(_ parameters: ParameterSet, _ name: String) -> [Float] {
    let all = parameters[name].scalars
    guard all.count > sampleLimit else { return all }
    return stride(from: 0, to: all.count, by: sampleStride).map { all[$0] }
  }
}

@Suite struct OptaxFixtureTests {
  static let fixtures = [
    "sgd", "momentum", "nesterov", "rmsprop", "rmsprop_momentum", "adam", "adamw", "nadamw",
    "lion", "adafactor", "adam_clip_warmup_cosine", "shampoo", "shampoo_sgd", "muon",
    "muon_decay",
  ]

  /// The optimizer a fixture describes.
  static func optimizer(for fixture: OptimizerFixture) -> any LearningRateOptimizer {
    let lr = fixture.number("lr")
    let nesterov = fixture.number("nesterov") == 1
    switch fixture.optimizer {
    case "momentum":
      return Momentum(learningRate: lr, beta: fixture.number("beta"), isNesterov: nesterov)
    case "rmsprop":
      return RMSProp(
        learningRate: lr, epsilonInsideRoot: fixture.number("eps_outside") != 1,
        momentum: fixture.number("momentum"), isNesterov: nesterov)
    case "adam":
      return Adam(
        learningRate: lr, weightDecay: fixture.number("weight_decay"), isNesterov: nesterov)
    case "lion":
      return Lion(learningRate: lr, weightDecay: fixture.number("weight_decay"))
    case "adafactor":
      return Adafactor(learningRate: lr)
    case "shampoo":
      return Shampoo(
        learningRate: lr, blockSize: Int(fixture.number("block", default: 128)),
        startStep: Int(fixture.number("start", default: 1)),
        updateInterval: Int(fixture.number("interval", default: 1)),
        grafting: Shampoo.Grafting(rawValue: fixture.text("grafting") ?? "adam")!)
    case "muon":
      return Muon(
        learningRate: lr, weightDecay: fixture.number("weight_decay"),
        adamLearningRateScale: fixture.number("adam_lr", default: lr) / lr)
    default:
      preconditionFailure("unknown optimizer \(fixture.optimizer) in fixture \(fixture.name)")
    }
  }

  /// Wraps `base` in the fixture's clipping and schedule, then runs the fixture.
  static func wrapAndRun<Base: LearningRateOptimizer>(
    _ base: Base, _ fixture: OptimizerFixture
  ) -> [ParameterSet] {
    let decay = fixture.text("decay").flatMap(LearningRateSchedule.Decay.init(rawValue:))
    let schedule = LearningRateSchedule(
      decay: decay ?? .constant, warmupSteps: Int(fixture.number("warmup")))
    let clip = fixture.number("clip")
    if clip > 0 {
      return run(
        ScheduledOptimizer(ClippedOptimizer(base, maximumNorm: clip), schedule: schedule), fixture)
    }
    return run(ScheduledOptimizer(base, schedule: schedule), fixture)
  }

  static func run<O: Optimizer>(_ optimizer: O, _ fixture: OptimizerFixture) -> [ParameterSet] {
    var parameters = fixture.initialParameters
    var state = optimizer.makeState(for: parameters, totalSteps: fixture.steps)
    return (0..<fixture.steps).map { step in
      optimizer.update(
        &parameters, gradients: fixture.gradients(step: step), loss: 0, state: &state)
      return parameters
    }
  }

  @Test(arguments: fixtures)
  func matchesTheReferenceAtEveryStep(name: String) throws {
    let fixture = try OptimizerFixture.load(name)
    // Shampoo's roots and Muon's Newton–Schulz polynomial (coefficients up to 4.8, five
    // rounds) amplify float32 rounding: optax's Muon in float32 and in float64 differ by up to
    // 7e-7 on these O(1) parameters after eight steps.
    let (tolerance, absoluteTolerance): (Float, Float) =
      switch fixture.optimizer {
      case "shampoo": (1e-4, 1e-7)
      case "muon": (1e-4, 1e-6)
      default: (1e-5, 1e-7)
      }
    let trajectory = Self.wrapAndRun(Self.optimizer(for: fixture), fixture)
    // Relative error over elements of magnitude ≥ 1e-2 (the parameters are O(1)); smaller
    // elements are held to `absoluteTolerance`.
    var worst: Float = 0
    for (step, parameters) in trajectory.enumerated() {
      for tensor in fixture.tensors {
        let actual = fixture.sampled(parameters, tensor.name)
        let expected = try #require(fixture.parameters[step][tensor.name])
        expectClose(
          actual, expected, relativeTolerance: tolerance, absoluteTolerance: absoluteTolerance)
        for (a, e) in zip(actual, expected) where abs(e) >= 1e-2 {
          worst = max(worst, abs(a - e) / abs(e))
        }
      }
    }
    print("fixture \(name): worst relative error \(worst)")
    #expect(worst <= tolerance, "\(name): worst relative error \(worst) > \(tolerance)")
  }
}
