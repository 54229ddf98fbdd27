import CLoptKernels
import LoptCore
import LoptOptimizers

// The per-parameter MLP step of MLPLOpt and AdafacMLP (docs/velo.md §18): the C kernel
// that normalises the features over a tensor and runs a small MLP per element, and its trace.

/// Every element's intermediates of one per-parameter step, per tensor, as the reference's
/// fixtures record them (tests compare the two).
struct PerParameterTrace {
  /// The training-step features appended to every element's normalised features.
  var stepFeatures: [Float] = []
  /// Per tensor, `[count, features]`: the raw features.
  var features: [[Float]] = []
  /// Per tensor, `[features]`: each channel's normalisation scale.
  var scales: [[Float]] = []
  /// Per tensor, `[count, 3]`: direction, magnitude and the update subtracted.
  var outputs: [[Float]] = []
}

/// MLPLOpt and AdafacMLP: learned optimizers whose update runs `PerParameterKernel` on every
/// tensor, each with its own accumulators.
///
/// The update itself, `update(_:gradients:state:trace:)`, is written once here; an optimizer
/// supplies its accumulators through `withKernelTensors(_:_:)`.
protocol PerParameterOptimizer: LearnedOptimizer where State: PerParameterState {
  /// The kernel, whose MLP is read in place from the meta-parameters.
  var kernel: PerParameterKernel { get }
  /// The number K of momentum decays (the state's momenta are `[K] + S` per tensor of shape `S`).
  var momentumDecayCount: Int { get }

  /// Calls `body` with the state's training-step feature buffer and scratch, and a function
  /// that returns the kernel tensor of tensor `index` of the layout with the optimizer's
  /// accumulators and decays set (the caller sets its parameters and gradients).
  ///
  /// Only called for non-empty parameters whose layout the state was made for.
  func withKernelTensors(_ state: inout State, _ body: KernelTensorsBody)
}

/// What `PerParameterOptimizer/withKernelTensors(_:_:)` passes on: the training-step features,
/// the scratch and the kernel tensor of each tensor index and layout entry.
typealias KernelTensorsBody = (
  _ stepFeatures: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
  _ tensor: (_ index: Int, _ entry: ParameterLayout.Entry) -> LoptPerParameterTensor
) -> Void

/// The state of a `PerParameterOptimizer`: what its shared update reads.
protocol PerParameterState {
  /// The number of updates applied so far.
  var iteration: Int { get set }
  /// The momenta, `[K] + S` per tensor of shape `S`.
  var momentum: ParameterSet { get }
}

extension PerParameterOptimizer {
  /// `update(_:gradients:loss:state:)` recording every element's intermediates in `trace`
  /// when it is not `nil`: the training-step features of `state.iteration`, then the kernel on
  /// each tensor, then the next iteration.
  ///
  /// - Complexity: O(parameters × MLP size); allocates nothing unless `trace` is given.
  func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, state: inout State,
    trace: inout PerParameterTrace?
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    precondition(
      state.momentum.count == parameters.count * momentumDecayCount,
      "state does not match parameters")
    defer { state.iteration += 1 }
    guard parameters.count > 0 else { return }
    let (iteration, layout) = (state.iteration, parameters.layout)
    metaParameters.withUnsafeBufferPointer { theta in
      gradients.withUnsafeBufferPointer { g in
        parameters.withUnsafeMutableBufferPointer { p in
          withKernelTensors(&state) { stepFeatures, scratch, tensor in
            TrainingStepEmbedding.write(iteration: iteration, into: stepFeatures)
            trace?.stepFeatures = Array(
              UnsafeBufferPointer(start: stepFeatures, count: TrainingStepEmbedding.count))
            for (index, entry) in layout.entries.enumerated() {
              var described = tensor(index, entry)
              described.parameters = p.baseAddress! + entry.offset
              described.gradients = g.baseAddress! + entry.offset
              PerParameterKernel.withTrace(
                &trace, tensor: index, count: entry.count, featureCount: kernel.featureCount
              ) {
                kernel.step(
                  described, theta: theta.baseAddress!, stepFeatures: stepFeatures,
                  scratch: scratch, trace: $0)
              }
            }
          }
        }
      }
    }
  }
}

/// The buffers every per-parameter step overwrites, so a state need not store them in a
/// checkpoint: the training-step features and the kernel's scratch.
struct PerParameterWorkspace: Sendable {
  /// The training-step features of the current step.
  var stepFeatures: [Float]
  /// The kernel's scratch, sized for the largest tensor.
  var scratch: [Float]

  /// Buffers for `kernel` stepping `tensors` (their pointers are not read).
  init(kernel: PerParameterKernel, tensors: [LoptPerParameterTensor]) {
    stepFeatures = [Float](repeating: 0, count: TrainingStepEmbedding.count)
    scratch = [Float](
      repeating: 0, count: tensors.map { kernel.scratchCount(for: $0) }.max() ?? 0)
  }

  /// Calls `body` with both buffers' base addresses (the parameters are not empty, so neither
  /// buffer is).
  mutating func withBuffers(
    _ body: (_ stepFeatures: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>)
      -> Void
  ) {
    stepFeatures.withUnsafeMutableBufferPointer { stepFeatures in
      scratch.withUnsafeMutableBufferPointer { body(stepFeatures.baseAddress!, $0.baseAddress!) }
    }
  }
}

/// The per-parameter MLP step of MLPLOpt and AdafacMLP for one tensor (docs/velo.md §18.1, §18.2).
///
/// The C kernel `lopt_per_parameter_step` (`CLoptPerParameter.h`) runs it:
/// ```
/// x̂_c = x_c · rsqrt(1e-5 + mean over the tensor of x_c²)     (every feature channel c)
/// (d, a) = MLP([x̂, step features])
/// p ← p − d · exp(expMult · a) · stepMult
/// ```
/// Accumulators are decay-major: plane j of a tensor's accumulator holds decay j of every
/// element.
struct PerParameterKernel: Sendable {
  /// The MLP, read in place from θ.
  let network: PerParameterMLP
  /// The scale inside the exponential of the magnitude output.
  let expMult: Float
  /// The global step scale.
  let stepMult: Float

  /// The normalised features per element: the MLP's inputs without the training-step features.
  var featureCount: Int { network.widths[0] - TrainingStepEmbedding.count }

  /// The scratch floats a step of `tensor` needs (its pointers are not read).
  func scratchCount(for tensor: LoptPerParameterTensor) -> Int {
    var tensor = tensor
    return withNetwork(theta: nil, stepFeatures: nil) { network in
      lopt_per_parameter_scratch_floats(&tensor, network)
    }
  }

  /// Updates `tensor`'s accumulators and applies the step to its parameters, recording the
  /// intermediates in `trace` when it is given.
  func step(
    _ tensor: LoptPerParameterTensor, theta: UnsafePointer<Float>,
    stepFeatures: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    trace: UnsafePointer<LoptPerParameterTrace>?
  ) {
    var tensor = tensor
    withNetwork(theta: theta, stepFeatures: stepFeatures) { network in
      lopt_per_parameter_step(&tensor, network, scratch, trace)
    }
  }

  private func withNetwork<R>(
    theta: UnsafePointer<Float>?, stepFeatures: UnsafePointer<Float>?,
    _ body: (UnsafePointer<LoptPerParameterNetwork>) -> R
  ) -> R {
    network.widths.withUnsafeBufferPointer { widths in
      network.weightOffsets.withUnsafeBufferPointer { weights in
        network.biasOffsets.withUnsafeBufferPointer { biases in
          var description = LoptPerParameterNetwork(
            theta: theta, widths: widths.baseAddress, weightOffsets: weights.baseAddress,
            biasOffsets: biases.baseAddress, layers: widths.count - 1,
            stepFeatures: stepFeatures, stepFeatureCount: TrainingStepEmbedding.count,
            expMult: expMult, stepMult: stepMult)
          return body(&description)
        }
      }
    }
  }

  /// Runs `body` with a C trace whose buffers are `trace`'s arrays for tensor `index` (`count`
  /// elements, `featureCount` features), or with `nil` when `trace` is `nil`.
  static func withTrace(
    _ trace: inout PerParameterTrace?, tensor index: Int, count: Int, featureCount: Int,
    _ body: (UnsafePointer<LoptPerParameterTrace>?) -> Void
  ) {
    guard var recorded = trace else { return body(nil) }
    var features = [Float](repeating: 0, count: count * featureCount)
    var scales = [Float](repeating: 0, count: featureCount)
    var outputs = [Float](repeating: 0, count: count * 3)
    features.withUnsafeMutableBufferPointer { f in
      scales.withUnsafeMutableBufferPointer { s in
        outputs.withUnsafeMutableBufferPointer { o in
          var c = LoptPerParameterTrace(
            features: f.baseAddress, scales: s.baseAddress, outputs: o.baseAddress)
          body(&c)
        }
      }
    }
    recorded.features.append(features)
    recorded.scales.append(scales)
    recorded.outputs.append(outputs)
    trace = recorded
  }
}
