// Fits y = sin(3x) on [-1, 1] with a 1-32-1 tanh network whose forward and backward passes are
// written here (not a Lopt task), first with Adam and then with Lopt's shipped learned
// optimizer, and checks that saving and restoring the optimizer state mid-run changes nothing.
import Foundation
import LoptCore
import LoptLearned
import LoptOptimizers

/// A 1-hidden-layer tanh network and its data, with the mean squared error and its gradient.
struct Curve {
  static let hidden = 32
  static let layout = ParameterLayout([
    ("w1", [1, hidden]), ("b1", [hidden]), ("w2", [hidden, 1]), ("b2", [1]),
  ])
  let inputs: [Float] = (0..<128).map { Float($0) / 63.5 - 1 }
  var targets: [Float] { inputs.map { sin(3 * $0) } }

  /// Weights from N(0, 1/fan-in), biases zero.
  func initialParameters(seed: UInt64) -> ParameterSet {
    var parameters = ParameterSet(
      layout: Self.layout, standardDeviation: 1, key: RandomKey(seed: seed))
    parameters["b1"] = Tensor(shape: [Self.hidden])
    parameters["b2"] = Tensor(shape: [1])
    let w2 = parameters["w2"].scalars.map { $0 / Float(Self.hidden).squareRoot() }
    parameters["w2"] = Tensor(shape: [Self.hidden, 1], scalars: w2)
    return parameters
  }

  /// The loss at `parameters`, with its gradient written into `gradients` (same layout).
  func lossAndGradient(_ parameters: ParameterSet, into gradients: inout ParameterSet) -> Float {
    let (w1, b1, w2) = (
      parameters["w1"].scalars, parameters["b1"].scalars, parameters["w2"].scalars
    )
    let b2 = parameters["b2"].scalars[0]
    let targets = self.targets
    var gw1 = [Float](repeating: 0, count: Self.hidden)
    var gb1 = gw1
    var gw2 = gw1
    var gb2: Float = 0
    var loss: Float = 0
    let scale = 1 / Float(inputs.count)
    for (x, y) in zip(inputs, targets) {
      let h = (0..<Self.hidden).map { tanh(w1[$0] * x + b1[$0]) }
      let prediction = zip(h, w2).reduce(b2) { $0 + $1.0 * $1.1 }
      let error = prediction - y
      loss += error * error * scale
      let dPrediction = 2 * error * scale
      gb2 += dPrediction
      for j in 0..<Self.hidden {
        gw2[j] += dPrediction * h[j]
        let dPre = dPrediction * w2[j] * (1 - h[j] * h[j])
        gw1[j] += dPre * x
        gb1[j] += dPre
      }
    }
    gradients["w1"] = Tensor(shape: [1, Self.hidden], scalars: gw1)
    gradients["b1"] = Tensor(shape: [Self.hidden], scalars: gb1)
    gradients["w2"] = Tensor(shape: [Self.hidden, 1], scalars: gw2)
    gradients["b2"] = Tensor(shape: [1], scalars: [gb2])
    return loss
  }
}

/// Trains for `steps` steps from `parameters` and `state`; returns the last loss.
func train<O: Optimizer>(
  _ curve: Curve, _ optimizer: O, steps: Int, parameters: inout ParameterSet,
  state: inout O.State
) -> Float {
  var gradients = parameters.zerosLike()
  var loss: Float = .nan
  for _ in 0..<steps {
    loss = curve.lossAndGradient(parameters, into: &gradients)
    optimizer.update(&parameters, gradients: gradients, loss: loss, state: &state)
  }
  return loss
}

/// Trains 600 steps in one go, then again with the state saved and restored after 300 steps.
func run<O: Optimizer>(_ name: String, _ optimizer: O) throws -> Float
where O.State: CheckpointableState {
  let curve = Curve()
  let steps = 600
  var parameters = curve.initialParameters(seed: 1)
  var scratch = parameters.zerosLike()
  let initialLoss = curve.lossAndGradient(parameters, into: &scratch)
  var state = optimizer.makeState(for: parameters, totalSteps: steps)
  let loss = train(curve, optimizer, steps: steps, parameters: &parameters, state: &state)

  var resumed = curve.initialParameters(seed: 1)
  var first = optimizer.makeState(for: resumed, totalSteps: steps)
  _ = train(curve, optimizer, steps: steps / 2, parameters: &resumed, state: &first)
  let file = FileManager.default.temporaryDirectory
    .appendingPathComponent("fit-a-curve-\(ProcessInfo.processInfo.processIdentifier).safetensors")
  defer { try? FileManager.default.removeItem(at: file) }
  try optimizer.saveState(first, to: file)
  var restored = try optimizer.loadState(from: file, for: resumed, totalSteps: steps)
  _ = train(curve, optimizer, steps: steps - steps / 2, parameters: &resumed, state: &restored)
  guard resumed == parameters else {
    throw ExampleError("\(name): resuming from the saved state changed the result")
  }
  print(
    "\(name): loss \(initialLoss) → \(loss) after \(steps) steps "
      + "(identical when the state is saved and restored halfway)")
  return loss
}

struct ExampleError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

BLAS.useSingleThread()
let adam = try run("Adam (lr 0.01)", Adam(learningRate: 0.01))
let learned = try run("Lopt's shipped learned optimizer", try ShippedLearnedOptimizer.optimizer())
guard adam < 0.05, learned < 0.05 else {
  throw ExampleError("the curve was not fitted: losses \(adam) and \(learned)")
}
