import CLoptKernels
import LoptCore

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
