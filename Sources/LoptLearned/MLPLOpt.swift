import CLoptKernels
import LoptCore
import LoptOptimizers

/// The per-parameter MLP learned optimizer "LOLv2" (`learned_optimizers/mlp_lopt.py`).
///
/// From Metz et al. 2019, "Understanding and correcting pathologies in the training of learned
/// optimizers".
/// Every element of every tensor gets the features g, p and six momenta (decays 0.1 … 0.9999,
/// updated with this step's gradient), normalised per channel over the tensor, plus the 11
/// training-step features; one MLP (19 → 32 → 32 → 2 by default) maps them to a direction d and a
/// magnitude a:
/// ```
/// m_k ← β_k·m_k + (1 − β_k)·g
/// p   ← p − d · exp(expMult · a) · stepMult
/// ```
/// The loss is not used. See docs/velo.md §18.1.
public struct MLPLOpt: LearnedOptimizer {
  /// The architecture: MLP sizes, step scales and momentum decays.
  public struct Configuration: Codable, Sendable, Equatable {
    /// The scale inside the exponential of the magnitude output.
    public var expMult: Float
    /// The global step scale.
    public var stepMult: Float
    /// The width of each hidden layer.
    public var hiddenSize: Int
    /// The number of hidden layers.
    public var hiddenLayers: Int
    /// The momentum decays (fixed, not meta-learned).
    public var momentumDecays: [Float]

    /// Creates a configuration; the defaults are the reference's.
    public init(
      expMult: Float = 0.001, stepMult: Float = 0.001, hiddenSize: Int = 32,
      hiddenLayers: Int = 2, momentumDecays: [Float] = [0.1, 0.5, 0.9, 0.99, 0.999, 0.9999]
    ) {
      self.expMult = expMult
      self.stepMult = stepMult
      self.hiddenSize = hiddenSize
      self.hiddenLayers = hiddenLayers
      self.momentumDecays = momentumDecays
    }

    /// The number of normalised features per element: g, p and the momenta.
    var featureCount: Int { 2 + momentumDecays.count }

    /// The MLP's layer widths, input first.
    var widths: [Int] {
      [featureCount + TrainingStepEmbedding.count]
        + Array(repeating: hiddenSize, count: hiddenLayers) + [2]
    }

    /// Throws unless the sizes are positive and there is at least one momentum decay.
    func validate() throws {
      guard hiddenSize > 0, hiddenLayers >= 0, !momentumDecays.isEmpty else {
        throw ArchitectureError(
          "MLPLOpt needs hiddenSize > 0, hiddenLayers ≥ 0 and at least one momentum "
            + "decay, got \(hiddenSize), \(hiddenLayers), \(momentumDecays)")
      }
    }
  }

  /// The architecture this optimizer was built with.
  public let configuration: Configuration

  /// The MLP weights θ, named `mlp/~/linear_<i>.{b,w}` as in the reference.
  public var metaParameters: ParameterSet {
    willSet {
      precondition(
        newValue.layout == metaParameters.layout,
        "MLPLOpt's meta-parameters must keep the layout of its configuration")
    }
  }

  let kernel: PerParameterKernel

  /// The meta-parameter layout of `configuration`: haiku `MLP` names in JAX leaf order.
  public static func metaParameterLayout(for configuration: Configuration) -> ParameterLayout {
    let widths = configuration.widths
    var leaves: [(keyPath: [String], shape: [Int])] = []
    for layer in 0..<(widths.count - 1) {
      let module = "mlp/~/linear_\(layer)"
      leaves.append((keyPath: [module, "b"], shape: [widths[layer + 1]]))
      leaves.append((keyPath: [module, "w"], shape: [widths[layer], widths[layer + 1]]))
    }
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
    let layers = configuration.widths.count - 1
    let network = PerParameterMLP(
      widths: configuration.widths,
      weightOffsets: (0..<layers).map { layout.entry(named: "mlp/~/linear_\($0).w")!.offset },
      biasOffsets: (0..<layers).map { layout.entry(named: "mlp/~/linear_\($0).b")!.offset })
    kernel = PerParameterKernel(
      network: network, expMult: configuration.expMult, stepMult: configuration.stepMult)
  }

  /// Meta-parameters drawn as the reference initialises them: weights from
  /// `TruncatedNormal(1/√fan_in)`, biases zero.
  public static func initialMetaParameters(
    for configuration: Configuration, key: RandomKey
  ) -> ParameterSet {
    MetaParameterTree.initialise(metaParameterLayout(for: configuration), key: key) {
      $0.hasSuffix(".w")
    }
  }

  /// The step counter and the momenta; every buffer a step needs.
  public struct State: Sendable {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The momenta, one tensor per parameter tensor with shape `[K] + S` (decay axis first).
    public var momentum: ParameterSet
    var workspace: PerParameterWorkspace
  }

  /// Zero momenta in the parameters' layout (`totalSteps` is not used by MLPLOpt).
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    let k = configuration.momentumDecays.count
    let layout = ParameterLayout(
      parameters.layout.entries.map { (name: $0.name, shape: [k] + $0.shape) })
    return State(
      iteration: 0, momentum: ParameterSet(layout: layout),
      workspace: PerParameterWorkspace(
        kernel: kernel, tensors: parameters.layout.entries.map { tensor(count: $0.count) }))
  }

  /// Applies one MLPLOpt step to every tensor.
  ///
  /// - Complexity: O(parameters × MLP size); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    var trace: PerParameterTrace? = nil
    update(&parameters, gradients: gradients, state: &state, trace: &trace)
  }

  /// The number of momentum decays.
  var momentumDecayCount: Int { configuration.momentumDecays.count }

  /// Calls `body` with the state's buffers and each tensor's momenta and decays.
  func withKernelTensors(_ state: inout State, _ body: KernelTensorsBody) {
    let k = momentumDecayCount
    configuration.momentumDecays.withUnsafeBufferPointer { decays in
      state.momentum.withUnsafeMutableBufferPointer { momentum in
        state.workspace.withBuffers { stepFeatures, scratch in
          body(stepFeatures, scratch) { _, entry in
            var tensor = tensor(count: entry.count)
            tensor.momentum = momentum.baseAddress! + entry.offset * k
            tensor.momentumDecays = decays.baseAddress
            return tensor
          }
        }
      }
    }
  }

  /// A kernel tensor of `count` elements with no buffers yet.
  private func tensor(count: Int) -> LoptPerParameterTensor {
    LoptPerParameterTensor(
      parameters: nil, gradients: nil, count: count, adafactor: 0, factored: 0, momentum: nil,
      momentumDecays: nil,
      k: configuration.momentumDecays.count, rms: nil, rmsDecay: 0, adafactorDecays: nil,
      diagonal: nil, rows: nil, columns: nil, outer: 1, extentA: 1, middle: 1, extentB: 1,
      inner: 1, rowAxisIsA: 0)
  }
}

extension MLPLOpt: PerParameterOptimizer {}

extension MLPLOpt.State: PerParameterState {}
