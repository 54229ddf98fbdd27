import Foundation
import LoptCore

/// Muon (Jordan et al., 2024, "Muon: an optimizer for hidden layers"), as optax's
/// `contrib.muon` with its defaults.
///
/// Every rank-2 tensor `W` of shape `[fan_in, fan_out]` takes an orthogonalised Nesterov
/// momentum step; every other tensor (scalars, biases, gains, convolution kernels) takes a
/// NAdamW step, as optax's partition does:
/// ```
/// m ← β·m + (1 − β)·g;   m̂ = β·m / (1 − βᵗ⁺¹) + (1 − β)·g / (1 − βᵗ)
/// O = NewtonSchulz(m̂)
/// W ← W − lr · (√max(1, fan_out / fan_in) · O + λ·W)
/// ```
/// β 0.95, five Newton–Schulz steps, λ 0; the NAdamW branch uses β₁ 0.9, β₂ 0.999, ε 1e-8, no
/// weight decay, at `lr × adamLearningRateScale` (optax: `adam_learning_rate`, by default the
/// same rate).
public struct Muon: LearningRateOptimizer {
  /// The step size `lr` of the orthogonalised updates (Muon's usual 0.02 suits RMS-1 inputs).
  public let learningRate: Float
  /// The momentum decay β of the matrices.
  public let beta: Float
  /// The orthogonalisation.
  public let newtonSchulz: NewtonSchulz
  /// The decoupled weight decay λ of the matrices.
  public let weightDecay: Float
  /// The rule of every tensor that is not a matrix.
  public let adam: Adam
  /// The other tensors' learning rate as a multiple of ``learningRate``.
  public let adamLearningRateScale: Float

  /// Creates Muon with optax's defaults.
  ///
  /// - Precondition: `learningRate ≥ 0`, `beta` in [0, 1), `weightDecay ≥ 0`,
  ///   `adamLearningRateScale ≥ 0`.
  public init(
    learningRate: Float = 0.02, beta: Float = 0.95, newtonSchulz: NewtonSchulz = NewtonSchulz(),
    weightDecay: Float = 0,
    adam: Adam = Adam(learningRate: 1, isNesterov: true), adamLearningRateScale: Float = 1
  ) {
    precondition(learningRate >= 0, "Muon's learning rate must be ≥ 0, got \(learningRate)")
    precondition((0..<1).contains(beta), "Muon's beta must be in [0, 1), got \(beta)")
    precondition(weightDecay >= 0, "the weight decay must be ≥ 0, got \(weightDecay)")
    precondition(adamLearningRateScale >= 0, "adamLearningRateScale must be ≥ 0")
    self.learningRate = learningRate
    self.beta = beta
    self.newtonSchulz = newtonSchulz
    self.weightDecay = weightDecay
    self.adam = adam
    self.adamLearningRateScale = adamLearningRateScale
  }

  /// Whether a tensor of `shape` takes the orthogonalised step (rank 2, as optax's default).
  public static func isOrthogonalized(_ shape: [Int]) -> Bool { shape.count == 2 }

  /// The moments, the step counter and the orthogonalisation's scratch.
  public struct State: CheckpointableState {
    /// Adam's state: `firstMoment` is every tensor's momentum; `secondMoment` is used by the
    /// tensors that are not orthogonalised and stays zero for the others.
    public var moments: Adam.State
    /// m̂ of the matrix being updated and the Newton–Schulz buffers (not checkpointed).
    var scratch: [Float]

    /// Stores the moments and the counter under `prefix`.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      moments.write(into: &file, prefix: prefix)
    }

    /// Restores what ``write(into:prefix:)`` stored.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      try moments.restore(from: file, prefix: prefix)
    }
  }

  /// Zero moments and scratch for the largest matrix of `parameters`.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    let scratch = parameters.layout.entries.lazy.filter { Self.isOrthogonalized($0.shape) }
      .map { $0.count + NewtonSchulz.scratchCount(rows: $0.shape[0], columns: $0.shape[1]) }
      .max()
    return State(
      moments: adam.makeState(for: parameters, totalSteps: totalSteps),
      scratch: [Float](repeating: 0, count: scratch ?? 0))
  }

  /// Applies one step: orthogonalised momentum for matrices, NAdamW for the rest.
  ///
  /// - Complexity: O(parameters) plus the Newton–Schulz products; allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    precondition(
      state.moments.firstMoment.layout == parameters.layout,
      "the state was made for other parameters")
    state.moments.iteration += 1
    let iteration = state.moments.iteration
    let t = Float(iteration)
    let momentScale = beta / (1 - pow(beta, t + 1))
    let gradientScale = (1 - beta) / (1 - pow(beta, t))
    let layout = parameters.layout
    gradients.withUnsafeBufferPointer { gAll in
      parameters.withUnsafeMutableBufferPointer { pAll in
        state.moments.firstMoment.withUnsafeMutableBufferPointer { mAll in
          state.moments.secondMoment.withUnsafeMutableBufferPointer { vAll in
            state.scratch.withUnsafeMutableBufferPointer { scratch in
              for entry in layout.entries where entry.count > 0 {
                let (p, g, m) = (
                  pAll.baseAddress! + entry.offset, gAll.baseAddress! + entry.offset,
                  mAll.baseAddress! + entry.offset
                )
                guard Self.isOrthogonalized(entry.shape) else {
                  adam.step(
                    p, g, m, vAll.baseAddress! + entry.offset, count: entry.count,
                    learningRate: learningRate * adamLearningRateScale, iteration: iteration)
                  continue
                }
                let direction = scratch.baseAddress!
                for i in 0..<entry.count {
                  m[i] = beta * m[i] + (1 - beta) * g[i]
                  direction[i] = momentScale * m[i] + gradientScale * g[i]
                }
                let (fanIn, fanOut) = (entry.shape[0], entry.shape[1])
                newtonSchulz.orthogonalize(
                  direction, rows: fanIn, columns: fanOut, scratch: direction + entry.count)
                let scale =
                  learningRate * Float(max(1, Double(fanOut) / Double(fanIn))).squareRoot()
                let decay = learningRate * weightDecay
                for i in 0..<entry.count { p[i] -= scale * direction[i] + decay * p[i] }
              }
            }
          }
        }
      }
    }
  }
}
