import CLoptKernels
import Foundation
import LoptCore
import LoptOptimizers

/// A learned optimizer built so that its initial meta-parameters are already a strong
/// hand-designed optimizer: Adam with a linear warm-up and a cosine decay to zero over the run,
/// which evolution strategies then refine.
///
/// For each tensor `k` at step `t` of a run of `T` steps (`T` from `makeState`):
/// ```
/// m ← β₁m + (1 − β₁)g     v ← β₂v + (1 − β₂)g²     d = m̂ / (√v̂ + ε)       (Adam's direction)
/// (s_k, a_k) = controller(tanh(10(t/T − τ)), loss trends, ln RMS(p_k), ln RMS(g_k),
///                         ln RMS(d_k), [rank ≤ 1], tanh(log₁₀(T / 1000)))
/// ln η_k = ln lr₀ + 10·θ_lr + s_k + (α₀ + a_k) · ln S_k                          (rank ≥ 2)
/// S_k = min(max(RMS(p_k), minimumScale), maximumScaleGrowth · max(RMS(p_k⁰), minimumScale))
/// ln η_k = ln lr_v + 10·θ_v + s_k                                             (rank ≤ 1)
/// p ← p − η_k · w(t/T) · (d + r)
/// ```
/// `w` is `LearningRateSchedule`'s cosine decay with a warm-up of ``Configuration/warmupFraction``
/// of the run; the controller is a one-hidden-layer tanh MLP over VeLO's fractional embedding of
/// t/T, VeLO's nine loss-trend features, the tensor's log-scale statistics and the run's length
/// (so that the peak step can depend on the horizon); matrices take steps proportional to a
/// power α₀ + a_k of their scale S_k (VeLO's and Celo's parameter-scale multiplier at α₀ = 1,
/// with a learned correction): the current RMS, but at most ``Configuration/maximumScaleGrowth``
/// times the RMS at the run's first update, RMS(p_k⁰) — steps that follow growing weights
/// without limit grow the weights further, which over 10,000 steps compounds into divergence;
/// vectors (biases, gains) take Adam's absolute steps at their own rate; `r` is
/// a per-element residual MLP over
/// RMS-normalised features (g, p, m, d, g/(√v̂ + ε)) and three t/T features. The controller's
/// and the residual's last layers start at zero, so θ₀ is exactly Adam at `lr₀` with the
/// schedule.
///
/// With ``Configuration/matrixDirection`` `.orthogonalized`, tensors of rank ≥ 2 replace `d`
/// by Muon's direction: their Nesterov momentum (β 0.95) seen as a `[count / last extent,
/// last extent]` matrix, orthogonalised by `NewtonSchulz` and scaled by √max(rows, columns)
/// (RMS about 1); that configuration has no residual.
public struct ScheduledAdamLOpt: LearnedOptimizer {
  /// The architecture: Adam's constants, the schedule and the two networks' sizes.
  public struct Configuration: Codable, Sendable, Equatable {
    /// What direction a tensor of rank ≥ 2 steps along.
    public enum MatrixDirection: String, Codable, Sendable, CaseIterable {
      /// Adam's bias-corrected direction `m̂ / (√v̂ + ε)`.
      case adam
      /// Muon's: Nesterov momentum (β 0.95) of the tensor seen as a matrix `[count / last
      /// extent, last extent]`, orthogonalised by `NewtonSchulz` (LoptOptimizers) and scaled
      /// by √max(rows, columns), so that its RMS is about 1 at every shape.
      case orthogonalized
    }

    /// The direction of tensors of rank ≥ 2 (`nil`, as in files written before the choice
    /// existed: ``MatrixDirection/adam``).
    public var matrixDirection: MatrixDirection?
    /// The peak learning rate at θ = 0 (lr₀) of tensors of rank ≥ 2, for a tensor of RMS 1.
    public var initialLearningRate: Float
    /// The peak learning rate at θ = 0 of tensors of rank ≤ 1 (biases, scales), which take
    /// Adam's absolute steps.
    public var initialVectorLearningRate: Float
    /// The power α₀ of the tensor's RMS the step is proportional to at θ = 0 (0: Adam's
    /// absolute steps; 1: steps relative to the tensor's scale, as VeLO's and Celo's).
    public var initialScaleExponent: Float
    /// The tensor RMS below which the scale term stops shrinking the step.
    public var minimumScale: Float
    /// How far the scale term may grow above the tensor's RMS at the first update.
    public var maximumScaleGrowth: Float
    /// The warm-up's share of the run.
    public var warmupFraction: Float
    /// Adam's first-moment decay β₁.
    public var beta1: Float
    /// Adam's second-moment decay β₂.
    public var beta2: Float
    /// Added to √v̂ (Adam's ε).
    public var epsilon: Float
    /// The controller's hidden width.
    public var controllerHiddenSize: Int
    /// The residual MLP's hidden width (0: no residual).
    public var residualHiddenSize: Int
    /// The residual MLP's hidden layers.
    public var residualHiddenLayers: Int

    /// Creates a configuration.
    public init(
      initialLearningRate: Float = 0.1, initialVectorLearningRate: Float = 0.01,
      initialScaleExponent: Float = 1,
      minimumScale: Float = 1e-3, maximumScaleGrowth: Float = 2, warmupFraction: Float = 0.05,
      beta1: Float = 0.9,
      beta2: Float = 0.999, epsilon: Float = 1e-8, controllerHiddenSize: Int = 16,
      residualHiddenSize: Int = 8, residualHiddenLayers: Int = 2,
      matrixDirection: MatrixDirection? = nil
    ) {
      self.matrixDirection = matrixDirection
      self.initialLearningRate = initialLearningRate
      self.initialVectorLearningRate = initialVectorLearningRate
      self.initialScaleExponent = initialScaleExponent
      self.minimumScale = minimumScale
      self.maximumScaleGrowth = maximumScaleGrowth
      self.warmupFraction = warmupFraction
      self.beta1 = beta1
      self.beta2 = beta2
      self.epsilon = epsilon
      self.controllerHiddenSize = controllerHiddenSize
      self.residualHiddenSize = residualHiddenSize
      self.residualHiddenLayers = residualHiddenLayers
    }

    /// Whether tensors of rank ≥ 2 take orthogonalised steps.
    var orthogonalizesMatrices: Bool { matrixDirection == .orthogonalized }

    /// The largest width either network may have (a file or config cannot ask for more).
    static let maximumWidth = 1024

    /// The residual MLP's widths, input first (empty without a residual).
    var residualWidths: [Int] {
      guard residualHiddenSize > 0 else { return [] }
      return [ScheduledAdamLOpt.residualInputCount]
        + Array(repeating: residualHiddenSize, count: residualHiddenLayers) + [1]
    }

    /// Throws unless every setting is in range.
    func validate() throws {
      func fails(_ reason: String) -> ArchitectureError {
        ArchitectureError("ScheduledAdamLOpt needs " + reason)
      }
      guard initialLearningRate.isFinite, initialLearningRate > 0,
        initialVectorLearningRate.isFinite, initialVectorLearningRate > 0
      else {
        throw fails(
          "initialLearningRate and initialVectorLearningRate > 0, got \(initialLearningRate) "
            + "and \(initialVectorLearningRate)")
      }
      guard initialScaleExponent.isFinite, abs(initialScaleExponent) <= 4 else {
        throw fails("initialScaleExponent in [−4, 4], got \(initialScaleExponent)")
      }
      guard minimumScale.isFinite, minimumScale > 0 else {
        throw fails("minimumScale > 0, got \(minimumScale)")
      }
      guard maximumScaleGrowth.isFinite, maximumScaleGrowth >= 1 else {
        throw fails("maximumScaleGrowth ≥ 1, got \(maximumScaleGrowth)")
      }
      guard (0..<1).contains(warmupFraction) else {
        throw fails("warmupFraction in [0, 1), got \(warmupFraction)")
      }
      guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
        throw fails("beta1 and beta2 in [0, 1), got \(beta1), \(beta2)")
      }
      guard epsilon.isFinite, epsilon > 0 else { throw fails("epsilon > 0, got \(epsilon)") }
      guard !orthogonalizesMatrices || residualHiddenSize == 0 else {
        throw fails(
          "residualHiddenSize 0 with the orthogonalized matrix direction (the residual's "
            + "features are Adam's), got \(residualHiddenSize)")
      }
      let widths = [controllerHiddenSize, residualHiddenSize, residualHiddenLayers]
      guard (1...Self.maximumWidth).contains(controllerHiddenSize),
        (0...Self.maximumWidth).contains(residualHiddenSize),
        (0...16).contains(residualHiddenLayers)
      else {
        throw fails(
          "controllerHiddenSize in 1…\(Self.maximumWidth), residualHiddenSize in "
            + "0…\(Self.maximumWidth) and residualHiddenLayers in 0…16, got \(widths)")
      }
    }
  }

  /// Controller inputs: 9 fraction features, 9 loss features, 3 log-scale statistics, the
  /// rank ≤ 1 flag and the horizon feature.
  static let controllerInputCount = FractionEmbedding.count + LossTrendFeatures.count + 5

  /// The horizon feature `tanh(log₁₀(T / 1000))`: 0 at 1000 steps, ∓0.76 at 100 and 10,000.
  static func horizonFeature(totalSteps: Int) -> Float {
    Foundation.tanh(Foundation.log10(Float(totalSteps) / 1000))
  }
  /// Controller outputs: the log step offset `s` and the scale exponent `a`.
  static let controllerOutputCount = 2
  /// Per-element residual features before the broadcast t/T features.
  static let residualFeatureCount = 5
  /// The t/T thresholds of the residual's broadcast features.
  static let residualFractionThresholds: [Float] = [0.1, 0.5, 0.9]
  /// Residual MLP inputs.
  static var residualInputCount: Int {
    residualFeatureCount + residualFractionThresholds.count
  }
  /// The momentum decay of orthogonalised matrices (Muon's β).
  static let orthogonalMomentumDecay: Float = 0.95
  /// ln η moves by this much per unit of `log_learning_rate`, so that ES's σ explores the step
  /// size in steps of about 10 %.
  static let logLearningRateScale: Float = 10
  /// ln η is clipped to this range, so that no θ makes an infinite step.
  static let logStepRange: ClosedRange<Float> = -30...3

  /// The architecture this optimizer was built with.
  public let configuration: Configuration

  /// θ: `log_learning_rate`, the controller's `controller.w0, b0, w1, b1` and the residual's
  /// `residual.w<i>, b<i>` (`w` is `[in, out]`).
  public var metaParameters: ParameterSet {
    willSet {
      precondition(
        newValue.layout == metaParameters.layout,
        "ScheduledAdamLOpt's meta-parameters must keep the layout of its configuration")
    }
    didSet { hasResidual = Self.residualIsActive(configuration, metaParameters) }
  }

  /// Whether the residual MLP can be non-zero (its last layer is not all zeros); without it the
  /// per-element work is Adam's.
  public private(set) var hasResidual: Bool

  let residual: PerParameterMLP?
  let offsets: Offsets

  /// Offsets of the controller's tensors and the learning rate in θ.
  struct Offsets: Sendable {
    var logLearningRate = 0
    var w0 = 0, b0 = 0, w1 = 0, b1 = 0
  }

  /// The meta-parameter layout of `configuration`, in JAX leaf order.
  public static func metaParameterLayout(for configuration: Configuration) -> ParameterLayout {
    let (inputs, hidden) = (controllerInputCount, configuration.controllerHiddenSize)
    var leaves: [(keyPath: [String], shape: [Int])] = [
      (keyPath: ["log_learning_rate"], shape: [2]),
      (keyPath: ["controller", "w0"], shape: [inputs, hidden]),
      (keyPath: ["controller", "b0"], shape: [hidden]),
      (keyPath: ["controller", "w1"], shape: [hidden, controllerOutputCount]),
      (keyPath: ["controller", "b1"], shape: [controllerOutputCount]),
    ]
    leaves += MetaParameterTree.denseLeaves(
      under: ["residual"], widths: configuration.residualWidths)
    return MetaParameterTree.layout(leaves)
  }

  /// Creates the optimizer from its architecture and meta-parameters.
  ///
  /// - Throws: ``ArchitectureError`` if the configuration is invalid, ``CheckpointError`` if
  ///   `metaParameters` does not have ``metaParameterLayout(for:)``.
  public init(configuration: Configuration, metaParameters: ParameterSet) throws {
    let layout = try Self.checkedLayout(configuration, metaParameters)
    self.configuration = configuration
    self.metaParameters = metaParameters
    hasResidual = Self.residualIsActive(configuration, metaParameters)
    func offset(_ name: String) -> Int { layout.entry(named: name)!.offset }
    offsets = Offsets(
      logLearningRate: offset("log_learning_rate"), w0: offset("controller.w0"),
      b0: offset("controller.b0"), w1: offset("controller.w1"), b1: offset("controller.b1"))
    let widths = configuration.residualWidths
    residual =
      widths.isEmpty ? nil : PerParameterMLP(widths: widths, layout: layout, prefix: "residual.")
  }

  /// θ₀: the first layers drawn from `TruncatedNormal(1/√fan_in)`, the last layers, biases and
  /// the learning-rate offset zero — Adam at ``Configuration/initialLearningRate`` with the
  /// schedule.
  public static func initialMetaParameters(
    for configuration: Configuration, key: RandomKey
  ) -> ParameterSet {
    let lastResidual = "residual.w\(max(0, configuration.residualWidths.count - 2))"
    return MetaParameterTree.initialise(metaParameterLayout(for: configuration), key: key) {
      $0 == "controller.w0" || ($0.hasPrefix("residual.w") && $0 != lastResidual)
    }
  }

  /// Whether the residual's last weight matrix or bias has a non-zero element.
  private static func residualIsActive(
    _ configuration: Configuration, _ theta: ParameterSet
  ) -> Bool {
    let widths = configuration.residualWidths
    guard widths.count >= 2 else { return false }
    let last = widths.count - 2
    return (theta["residual.w\(last)"].scalars + theta["residual.b\(last)"].scalars)
      .contains { $0 != 0 }
  }

  /// Adam's moments, the loss EMAs, the step counter and the scratch a step needs.
  public struct State: CheckpointableState {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The planned number of steps T.
    public var totalSteps: Int
    /// Adam's first moment m.
    public var firstMoment: ParameterSet
    /// Adam's second moment v.
    public var secondMoment: ParameterSet
    /// The loss EMAs (``LossTrendFeatures``).
    var lossMeans: [Float]
    /// Their running minima.
    var lossRunningMinimum: [Float]
    /// Their decays for `totalSteps`.
    var lossDecays: [Float]
    /// Controller inputs, hidden activations, outputs and the residual's block buffers.
    var scratch: [Float]
    /// Whether each tensor has rank ≤ 1.
    var isVector: [Bool]
    /// Each tensor's RMS at the first update (−1 until then): the scale its steps follow.
    var referenceScales: [Float]
    /// Each tensor's last extent: the columns of its matrix view when it is orthogonalised.
    var lastExtents: [Int]
    /// The orthogonalised direction of the tensor being updated and the Newton–Schulz buffers
    /// (empty unless matrices are orthogonalised).
    var orthogonalScratch: [Float]

    /// Stores the counters, the moments and the loss EMAs under `prefix`.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      file.setCounter(iteration, named: prefix + "iteration")
      file.setCounter(totalSteps, named: prefix + "total_steps")
      file.setParameters(firstMoment, named: prefix + "mu")
      file.setParameters(secondMoment, named: prefix + "nu")
      file.setFloat(
        Tensor(shape: [lossMeans.count], scalars: lossMeans), named: prefix + "loss_means")
      file.setFloat(
        Tensor(shape: [lossRunningMinimum.count], scalars: lossRunningMinimum),
        named: prefix + "loss_running_minimum")
      file.setFloat(
        Tensor(shape: [referenceScales.count], scalars: referenceScales),
        named: prefix + "reference_scales")
    }

    /// Restores what ``write(into:prefix:)`` stored.
    ///
    /// - Throws: `SafetensorsError` when a tensor is missing or mis-shaped, or the run
    ///   length differs from the state's.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      try file.expectCounter(named: prefix + "total_steps", equals: totalSteps)
      iteration = try file.readCounter(named: prefix + "iteration")
      try file.readParameters(&firstMoment, named: prefix + "mu")
      try file.readParameters(&secondMoment, named: prefix + "nu")
      lossMeans = try file.readTensor(
        named: prefix + "loss_means", shape: [LossTrendFeatures.averageCount]
      ).scalars
      lossRunningMinimum = try file.readTensor(
        named: prefix + "loss_running_minimum", shape: [LossTrendFeatures.averageCount]
      ).scalars
      referenceScales = try file.readTensor(
        named: prefix + "reference_scales", shape: [referenceScales.count]
      ).scalars
    }
  }

  /// Zero moments, fresh loss EMAs for a run of `totalSteps` steps.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    let block = PerParameterMLP.blockSize
    let residualScratch =
      residual.map { ($0.widths[0] + 2 * $0.maximumWidth) * block } ?? 0
    let scratchCount =
      Self.controllerInputCount + configuration.controllerHiddenSize + Self.controllerOutputCount
      + LossTrendFeatures.count + 2 * Self.residualFeatureCount + residualScratch
    let entries = parameters.layout.entries
    let isVector = entries.map { $0.shape.filter { $0 > 1 }.count <= 1 }
    let lastExtents = entries.map { max($0.shape.last ?? 1, 1) }
    let orthogonalScratch =
      configuration.orthogonalizesMatrices
      ? entries.indices.filter { !isVector[$0] }.map { index in
        let count = entries[index].count
        let columns = lastExtents[index]
        return count + NewtonSchulz.scratchCount(rows: count / columns, columns: columns)
      }.max() ?? 0
      : 0
    return State(
      iteration: 0, totalSteps: max(1, totalSteps), firstMoment: parameters.zerosLike(),
      secondMoment: parameters.zerosLike(),
      lossMeans: [Float](repeating: 0, count: LossTrendFeatures.averageCount),
      lossRunningMinimum: [Float](
        repeating: LossTrendFeatures.initialRunningMinimum,
        count: LossTrendFeatures.averageCount),
      lossDecays: LossTrendFeatures.decays(horizon: max(1, totalSteps)),
      scratch: [Float](repeating: 0, count: scratchCount),
      isVector: isVector,
      referenceScales: [Float](repeating: -1, count: parameters.layout.count),
      lastExtents: lastExtents,
      orthogonalScratch: [Float](repeating: 0, count: orthogonalScratch))
  }

  /// The schedule factor w(t/T) after `iteration` of `totalSteps` steps.
  public func scheduleFactor(iteration: Int, totalSteps: Int) -> Float {
    LearningRateSchedule(decay: .cosine, warmupFraction: configuration.warmupFraction)
      .factor(step: iteration, totalSteps: totalSteps)
  }

  /// Applies one step to every tensor; a non-finite `loss` leaves the loss features as they
  /// were.
  ///
  /// - Complexity: O(parameters × residual size); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    precondition(
      state.firstMoment.count == parameters.count
        && state.isVector.count == parameters.layout.count,
      "the state was made for other parameters")
    defer { state.iteration += 1 }
    let t = state.iteration
    let fractionDone = Float(t) / Float(state.totalSteps)
    let schedule = scheduleFactor(iteration: t, totalSteps: state.totalSteps)
    let step = Float(t + 1)
    let moments = AdamMoments(
      beta1: configuration.beta1, beta2: configuration.beta2, epsilon: configuration.epsilon,
      firstCorrection: 1 / (1 - Foundation.pow(configuration.beta1, step)),
      secondCorrection: 1 / (1 - Foundation.pow(configuration.beta2, step)))
    let layout = parameters.layout
    let hidden = configuration.controllerHiddenSize
    let residualActive = hasResidual
    let (inputCount, outputCount) = (Self.controllerInputCount, Self.controllerOutputCount)
    let lossFeatureOffset = inputCount + hidden + outputCount
    let residualOffset = lossFeatureOffset + LossTrendFeatures.count + 2 * Self.residualFeatureCount
    let isVector = state.isVector
    let lastExtents = state.lastExtents
    let orthogonalizes = configuration.orthogonalizesMatrices
    let minimumScale = configuration.minimumScale
    let logBaseRates = (
      matrix: Foundation.log(configuration.initialLearningRate),
      vector: Foundation.log(configuration.initialVectorLearningRate)
    )
    state.scratch.withUnsafeMutableBufferPointer { scratchBuffer in
      let scratch = scratchBuffer.baseAddress!
      let input = scratch
      let hiddenActivations = scratch + inputCount
      let output = hiddenActivations + hidden
      let lossFeatures = scratch + lossFeatureOffset
      let sums = lossFeatures + LossTrendFeatures.count
      let residualInputs = scratch + residualOffset
      if loss.isFinite {
        state.lossMeans.withUnsafeMutableBufferPointer { means in
          state.lossRunningMinimum.withUnsafeMutableBufferPointer { minimum in
            state.lossDecays.withUnsafeBufferPointer { decays in
              LossTrendFeatures.update(
                loss: loss, iteration: t, means: means.baseAddress!,
                runningMinimum: minimum.baseAddress!, decays: decays.baseAddress!,
                features: lossFeatures)
            }
          }
        }
      }
      FractionEmbedding.write(fractionDone: fractionDone, into: input)
      let horizon = Self.horizonFeature(totalSteps: state.totalSteps)
      for j in 0..<LossTrendFeatures.count {
        input[FractionEmbedding.count + j] = lossFeatures[j]
      }
      metaParameters.withUnsafeBufferPointer { thetaBuffer in
        let theta = thetaBuffer.baseAddress!
        let logRates = (
          matrix: logBaseRates.matrix + Self.logLearningRateScale * theta[offsets.logLearningRate],
          vector: logBaseRates.vector
            + Self.logLearningRateScale * theta[offsets.logLearningRate + 1]
        )
        state.referenceScales.withUnsafeMutableBufferPointer { references in
          state.orthogonalScratch.withUnsafeMutableBufferPointer { orthogonalBuffer in
            gradients.withUnsafeBufferPointer { gAll in
              parameters.withUnsafeMutableBufferPointer { pAll in
                state.firstMoment.withUnsafeMutableBufferPointer { mAll in
                  state.secondMoment.withUnsafeMutableBufferPointer { vAll in
                    for (index, entry) in layout.entries.enumerated() where entry.count > 0 {
                      let tensor = TensorBuffers(
                        p: pAll.baseAddress! + entry.offset, g: gAll.baseAddress! + entry.offset,
                        m: mAll.baseAddress! + entry.offset, v: vAll.baseAddress! + entry.offset,
                        count: entry.count)
                      let orthogonal = orthogonalizes && !isVector[index]
                      if orthogonal {
                        tensor.orthogonalDirection(
                          iteration: t + 1, columns: lastExtents[index],
                          into: orthogonalBuffer.baseAddress!, sums: sums)
                      } else {
                        tensor.updateMoments(moments, sums: sums)
                      }
                      let n = Double(entry.count)
                      let logP = Self.logRMS(sums[1], n)
                      let statistics = FractionEmbedding.count + LossTrendFeatures.count
                      input[statistics] = 0.1 * logP
                      input[statistics + 1] = 0.1 * Self.logRMS(sums[0], n)
                      input[statistics + 2] = 0.1 * Self.logRMS(sums[3], n)
                      input[statistics + 3] = isVector[index] ? 1 : 0
                      input[statistics + 4] = horizon
                      runController(
                        theta: theta, input: input, hidden: hiddenActivations, output: output)
                      var logStep: Float
                      if isVector[index] {
                        logStep = logRates.vector + output[0]
                      } else {
                        if references[index] < 0 {
                          references[index] = Float((Double(sums[1]) / n).squareRoot())
                        }
                        let current = max(Float((Double(sums[1]) / n).squareRoot()), minimumScale)
                        let limit =
                          configuration.maximumScaleGrowth * max(references[index], minimumScale)
                        let logScale = Foundation.log(min(current, limit))
                        logStep =
                          logRates.matrix + output[0]
                          + (configuration.initialScaleExponent + output[1]) * logScale
                      }
                      logStep = min(
                        max(logStep, Self.logStepRange.lowerBound), Self.logStepRange.upperBound)
                      let eta = Foundation.exp(logStep) * schedule
                      if orthogonal {
                        tensor.apply(orthogonalBuffer.baseAddress!, eta: eta)
                      } else if residualActive, let residual {
                        tensor.applyWithResidual(
                          moments, eta: eta, residual: residual, theta: theta, sums: sums,
                          fractionDone: fractionDone, buffers: residualInputs)
                      } else {
                        tensor.apply(moments, eta: eta)
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// `ln RMS` from a sum of squares over `n` elements, floored at ln 1e-10.
  @inline(__always)
  static func logRMS(_ sumOfSquares: Float, _ n: Double) -> Float {
    Foundation.log(max(Float((Double(sumOfSquares) / n).squareRoot()), 1e-10))
  }

  /// `output = W1ᵀ tanh(W0ᵀ input + b0) + b1`.
  @inline(__always)
  private func runController(
    theta: UnsafePointer<Float>, input: UnsafePointer<Float>,
    hidden: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>
  ) {
    let (inputs, width, outputs) = (
      Self.controllerInputCount, configuration.controllerHiddenSize, Self.controllerOutputCount
    )
    let (w0, b0, w1, b1) = (
      theta + offsets.w0, theta + offsets.b0, theta + offsets.w1, theta + offsets.b1
    )
    for j in 0..<width {
      var sum = b0[j]
      for i in 0..<inputs { sum += input[i] * w0[i * width + j] }
      hidden[j] = Foundation.tanh(sum)
    }
    for k in 0..<outputs {
      var sum = b1[k]
      for j in 0..<width { sum += hidden[j] * w1[j * outputs + k] }
      output[k] = sum
    }
  }
}

/// Adam's decays and this step's bias corrections.
struct AdamMoments {
  var beta1: Float
  var beta2: Float
  var epsilon: Float
  /// 1 / (1 − β₁ᵗ).
  var firstCorrection: Float
  /// 1 / (1 − β₂ᵗ).
  var secondCorrection: Float

  /// Adam's direction m̂ / (√v̂ + ε) and 1 / (√v̂ + ε).
  @inline(__always)
  func direction(m: Float, v: Float) -> (direction: Float, inverseRoot: Float) {
    let inverse = 1 / ((v * secondCorrection).squareRoot() + epsilon)
    return (m * firstCorrection * inverse, inverse)
  }

  /// The same values for the C kernels.
  var kernelArguments: LoptAdamMoments {
    LoptAdamMoments(
      beta1: beta1, beta2: beta2, epsilon: epsilon, firstCorrection: firstCorrection,
      secondCorrection: secondCorrection)
  }
}

/// One tensor's parameters, gradient and moments.
private struct TensorBuffers {
  let p: UnsafeMutablePointer<Float>
  let g: UnsafePointer<Float>
  let m: UnsafeMutablePointer<Float>
  let v: UnsafeMutablePointer<Float>
  let count: Int

  /// Updates m and v and writes the sums of squares of g, p, m, d and g/(√v̂ + ε) to `sums`
  /// (one vectorised C pass, Float lanes added up in Double).
  @inline(__always)
  func updateMoments(_ moments: AdamMoments, sums: UnsafeMutablePointer<Float>) {
    lopt_scheduled_adam_moments(g, p, m, v, count, moments.kernelArguments, sums)
  }

  /// Muon's direction (``ScheduledAdamLOpt/Configuration/MatrixDirection/orthogonalized``) of
  /// update `iteration` into `direction`, updating the momentum `m`; writes the sums of
  /// squares of g, p, m and the direction to `sums` (the fifth, Adam's g/(√v̂ + ε), is 0).
  ///
  /// - Parameters:
  ///   - iteration: the 1-based update number.
  ///   - columns: the last extent, the columns of the tensor's matrix view.
  ///   - direction: `count` floats, then the Newton–Schulz scratch.
  ///   - sums: five sums of squares.
  func orthogonalDirection(
    iteration: Int, columns: Int, into direction: UnsafeMutablePointer<Float>,
    sums: UnsafeMutablePointer<Float>
  ) {
    let beta = ScheduledAdamLOpt.orthogonalMomentumDecay
    let t = Float(iteration)
    let momentScale = beta / (1 - Foundation.pow(beta, t + 1))
    let gradientScale = (1 - beta) / (1 - Foundation.pow(beta, t))
    var (gg, pp, mm): (Double, Double, Double) = (0, 0, 0)
    for i in 0..<count {
      let (gi, pi) = (g[i], p[i])
      let mi = beta * m[i] + (1 - beta) * gi
      m[i] = mi
      direction[i] = momentScale * mi + gradientScale * gi
      gg += Double(gi * gi)
      pp += Double(pi * pi)
      mm += Double(mi * mi)
    }
    let rows = count / columns
    NewtonSchulz().orthogonalize(
      direction, rows: rows, columns: columns, scratch: direction + count)
    let scale = Float(max(rows, columns)).squareRoot()
    var dd: Double = 0
    for i in 0..<count {
      direction[i] *= scale
      dd += Double(direction[i] * direction[i])
    }
    (sums[0], sums[1], sums[2], sums[3], sums[4]) = (Float(gg), Float(pp), Float(mm), Float(dd), 0)
  }

  /// `p ← p − η·d` for a precomputed direction `d`.
  @inline(__always)
  func apply(_ direction: UnsafePointer<Float>, eta: Float) {
    for i in 0..<count { p[i] -= eta * direction[i] }
  }

  /// `p ← p − η·d` (one vectorised C pass).
  @inline(__always)
  func apply(_ moments: AdamMoments, eta: Float) {
    lopt_scheduled_adam_apply(p, m, v, count, moments.kernelArguments, eta)
  }

  /// `p ← p − η·(d + r)`, r the residual MLP on the normalised features, block by block.
  func applyWithResidual(
    _ moments: AdamMoments, eta: Float, residual: PerParameterMLP, theta: UnsafePointer<Float>,
    sums: UnsafePointer<Float>, fractionDone: Float, buffers: UnsafeMutablePointer<Float>
  ) {
    let block = PerParameterMLP.blockSize
    let features = ScheduledAdamLOpt.residualFeatureCount
    let inputs = buffers
    let activations = buffers + residual.widths[0] * block
    // Feature order: g, p, m, d, g/(√v̂ + ε); each scaled to unit RMS over the tensor.
    let n = Float(count)
    let s0 = 1 / max(Float(sums[0] / n).squareRoot(), 1e-20)
    let s1 = 1 / max(Float(sums[1] / n).squareRoot(), 1e-20)
    let s2 = 1 / max(Float(sums[2] / n).squareRoot(), 1e-20)
    let s3 = 1 / max(Float(sums[3] / n).squareRoot(), 1e-20)
    let s4 = 1 / max(Float(sums[4] / n).squareRoot(), 1e-20)
    for (j, threshold) in ScheduledAdamLOpt.residualFractionThresholds.enumerated() {
      let value = Foundation.tanh(10 * (fractionDone - threshold))
      let row = inputs + (features + j) * block
      for e in 0..<block { row[e] = value }
    }
    var first = 0
    while first < count {
      let size = min(block, count - first)
      for e in 0..<size {
        let i = first + e
        let (d, inverse) = moments.direction(m: m[i], v: v[i])
        inputs[e] = g[i] * s0
        inputs[block + e] = p[i] * s1
        inputs[2 * block + e] = m[i] * s2
        inputs[3 * block + e] = d * s3
        inputs[4 * block + e] = g[i] * inverse * s4
      }
      let output = residual.apply(theta: theta, input: inputs, count: size, scratch: activations)
      for e in 0..<size {
        let i = first + e
        let d = moments.direction(m: m[i], v: v[i]).direction
        p[i] -= eta * (d + output[e])
      }
      first += size
    }
  }
}
