import Foundation
import LoptCore
import LoptOptimizers
import Testing

/// The layout of the conformance suite: VeLO's shape list, ranks 0–4.
public let conformanceLayout = ParameterLayout([
  ("scalar", []), ("vector", [7]), ("dense", [784, 32]), ("conv", [3, 3, 16, 16]),
  ("row", [1, 512]),
])

/// Runs the optimizer conformance suite (STYLE §4.4) and records an issue for every failure.
///
/// It checks that
/// - a state can be made for every tensor rank 0–4, and every saved state tensor is accounted
///   for: a scalar counter, a per-tensor buffer named `…/<tensor>` whose shape is
///   `perTensorShape(name, tensor shape)`, or a buffer declared in `packedState` with that
///   shape (a state tensor that is none of these is an issue, as is a declared one missing);
/// - identical inputs give bitwise identical parameters and states;
/// - two steps change the parameters, and the loss of a diagonal quadratic `½ Σ cᵢ pᵢ²`
///   falls below half its start in `steps` steps (when `steps` is given);
/// - training 2·k steps straight equals k steps, save, load into a fresh state, k steps
///   (bitwise), through a real file;
/// - a state saved for one layout is refused, with an error, for another: one with other
///   counts, and one with the same counts where a `[4, 6]` tensor is `[6, 4]`.
///
/// - Parameters:
///   - optimizer: configured with a learning rate suitable for the quadratic.
///   - steps: the number of steps the quadratic gets; `nil` leaves out the descent check, for
///     a learned optimizer whose θ is an untrained initialisation.
///   - perTensorShape: the shape of the state tensor `name` kept for a parameter tensor of
///     shape `shape` (default: the parameter's shape; a learned optimizer's accumulators add
///     a decay axis).
///   - packedState: the state tensors that are not per parameter tensor (statistics packed
///     for all tensors, per-tensor rows of a recurrent state…) with their shapes for
///     ``conformanceLayout``, computed by the caller from the optimizer's definition.
///   - sourceLocation: where failures are reported.
public func checkOptimizer<O: Optimizer>(
  _ optimizer: O, steps: Int? = 100,
  perTensorShape: (_ name: String, _ shape: [Int]) -> [Int] = { $1 },
  packedState: [String: [Int]] = [:], sourceLocation: SourceLocation = #_sourceLocation
) where O.State: CheckpointableState {
  let small = ParameterLayout([("a", [7]), ("b", [4, 6]), ("c", []), ("d", [2, 1, 3, 2])])
  checkStateShapes(
    optimizer, perTensorShape: perTensorShape, packedState: packedState,
    sourceLocation: sourceLocation)
  let first = QuadraticRun(optimizer, layout: small, steps: 12)
  let second = QuadraticRun(optimizer, layout: small, steps: 12)
  if first.parameters != second.parameters || first.stateBytes != second.stateBytes {
    Issue.record("identical inputs gave different results", sourceLocation: sourceLocation)
  }
  let start = QuadraticRun(optimizer, layout: small, steps: 0, totalSteps: 12)
  if first.parameters == start.parameters {
    Issue.record("12 steps left the parameters unchanged", sourceLocation: sourceLocation)
  }
  if let steps, case let descent = QuadraticRun(optimizer, layout: small, steps: steps),
    !(descent.finalLoss < 0.5 * descent.initialLoss)
  {
    let message =
      "the quadratic's loss went from \(descent.initialLoss) to \(descent.finalLoss) in "
      + "\(steps) steps (expected below half)"
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
  }
  checkResume(optimizer, layout: small, sourceLocation: sourceLocation)
}

/// Makes states for the VeLO shapes, takes two steps and checks every saved state tensor.
private func checkStateShapes<O: Optimizer>(
  _ optimizer: O, perTensorShape: (String, [Int]) -> [Int], packedState: [String: [Int]],
  sourceLocation: SourceLocation
) where O.State: CheckpointableState {
  let run = QuadraticRun(optimizer, layout: conformanceLayout, steps: 2)
  guard run.parameters.isFinite else {
    Issue.record("non-finite parameters after two steps", sourceLocation: sourceLocation)
    return
  }
  let state = run.state
  for name in state.names {
    let shape = state[name]?.shape ?? []
    let expected: [Int]
    if let declared = packedState[name] {
      expected = declared
    } else if let entry = conformanceLayout.entries.first(where: { name.hasSuffix("/" + $0.name) })
    {
      expected = perTensorShape(name, entry.shape)
    } else if shape.isEmpty {
      continue  // a counter
    } else {
      let message =
        "state tensor '\(name)' (shape \(shape)) is neither a parameter tensor's (…/<tensor>) "
        + "nor declared in packedState"
      Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
      continue
    }
    if shape != expected {
      let message = "state tensor '\(name)' has shape \(shape), expected \(expected)"
      Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
  }
  for name in packedState.keys where state[name] == nil {
    Issue.record("declared state tensor '\(name)' was not saved", sourceLocation: sourceLocation)
  }
}

/// Checks that 2·k steps equal k + save + load + k, and that other shapes are refused.
private func checkResume<O: Optimizer>(
  _ optimizer: O, layout: ParameterLayout, sourceLocation: SourceLocation
) where O.State: CheckpointableState {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
    "lopt-conformance-\(UUID().uuidString)")
  defer { try? FileManager.default.removeItem(at: directory) }
  do {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent("state.safetensors")
    let straight = QuadraticRun(optimizer, layout: layout, steps: 20)
    var resumed = QuadraticRun(optimizer, layout: layout, steps: 10, totalSteps: 20)
    try optimizer.saveState(resumed.optimizerState, to: url)
    resumed.optimizerState = try optimizer.loadState(
      from: url, for: resumed.parameters, totalSteps: 20)
    resumed.run(optimizer, steps: 10)
    if straight.parameters != resumed.parameters {
      Issue.record(
        "20 steps straight differ from 10 + save + load + 10", sourceLocation: sourceLocation)
    }
    let other = ParameterSet(layout: ParameterLayout([("a", [8]), ("b", [4, 6])]))
    if (try? optimizer.loadState(from: url, for: other, totalSteps: 20)) != nil {
      Issue.record(
        "a state saved for other shapes was accepted", sourceLocation: sourceLocation)
    }
    // The same names and counts, one matrix transposed.
    let entries = layout.entries.map { entry in
      (name: entry.name, shape: entry.shape == [4, 6] ? [6, 4] : entry.shape)
    }
    precondition(entries.map(\.shape) != layout.entries.map(\.shape), "no [4, 6] tensor")
    let transposed = ParameterSet(layout: ParameterLayout(entries))
    if (try? optimizer.loadState(from: url, for: transposed, totalSteps: 20)) != nil {
      Issue.record(
        "a state saved for a [4, 6] tensor was accepted for a [6, 4] one",
        sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("saving or restoring the state failed: \(error)", sourceLocation: sourceLocation)
  }
}

/// A run on the quadratic `½ Σ cᵢ pᵢ²` with fixed `cᵢ ∈ [0.5, 2]` and a fixed start.
private struct QuadraticRun<O: Optimizer> where O.State: CheckpointableState {
  var parameters: ParameterSet
  var optimizerState: O.State
  let curvature: [Float]
  var initialLoss: Float = 0
  var finalLoss: Float = 0

  init(_ optimizer: O, layout: ParameterLayout, steps: Int, totalSteps: Int? = nil) {
    let key = RandomKey(seed: 7)
    parameters = ParameterSet(layout: layout)
    parameters.withUnsafeMutableBufferPointer { key.fillNormal($0) }
    curvature = (0..<layout.totalCount).map { 0.5 + 1.5 * Float($0 % 11) / 10 }
    optimizerState = optimizer.makeState(for: parameters, totalSteps: totalSteps ?? steps)
    initialLoss = loss()
    run(optimizer, steps: steps)
  }

  mutating func run(_ optimizer: O, steps: Int) {
    var gradients = parameters.zerosLike()
    for _ in 0..<steps {
      let lossBefore = loss()
      parameters.withUnsafeBufferPointer { p in
        gradients.withUnsafeMutableBufferPointer { g in
          for i in 0..<p.count { g[i] = curvature[i] * p[i] }
        }
      }
      optimizer.update(&parameters, gradients: gradients, loss: lossBefore, state: &optimizerState)
    }
    finalLoss = loss()
  }

  func loss() -> Float {
    parameters.withUnsafeBufferPointer { p in
      var total: Double = 0
      for i in 0..<p.count { total += 0.5 * Double(curvature[i] * p[i] * p[i]) }
      return Float(total)
    }
  }

  /// The state as a safetensors file.
  var state: SafetensorsFile {
    var file = SafetensorsFile()
    optimizerState.write(into: &file, prefix: "")
    return file
  }

  var stateBytes: [UInt8] { state.serialized() }
}
