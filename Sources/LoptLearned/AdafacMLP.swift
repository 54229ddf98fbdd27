import CLoptKernels
import Foundation
import LoptCore
import LoptOptimizers

/// The per-parameter MLP learned optimizer with Adafactor-style features
/// (`learned_optimizers/adafac_mlp_lopt.py`): VeLO's per-parameter half without the LSTM.
///
/// Per element, 28 features — g, p, 3 momenta, rms, m·rsqrt(rms + 1e-6),
/// rsqrt(rms + 1e-6), the Adafactor-preconditioned gradient, the row and column statistics,
/// their rsqrt(· + 1e-8) and the momenta times the row and column factors (for rank < 2 the
/// full accumulator v in both slots and m·(v + 1e-6)^-½) — are normalised per channel over the
/// tensor; the 11 training-step features are appended and one MLP (39 → 4 → 4 → 2 by default)
/// gives a direction d and a magnitude a: `p ← p − d · exp(expMult · a) · stepMult`.
///
/// The decays are meta-learned offsets: `β = 1 − (1 − β₀)·exp(10·θ)`. See docs/velo.md §18.2.
public struct AdafacMLP: LearnedOptimizer {
  /// The architecture: MLP sizes, step scales and initial decays.
  public struct Configuration: Codable, Sendable, Equatable {
    /// The scale inside the exponential of the magnitude output.
    public var expMult: Float
    /// The global step scale.
    public var stepMult: Float
    /// The width of each hidden layer.
    public var hiddenSize: Int
    /// The number of hidden layers.
    public var hiddenLayers: Int
    /// The momentum decays β₀ before the meta-learned offsets.
    public var initialMomentumDecays: [Float]
    /// The second-moment decay β₀ before its offset.
    public var initialRMSDecay: Float
    /// The Adafactor decays β₀ before the offsets; as many as momentum decays.
    public var initialAdafactorDecays: [Float]

    /// Creates a configuration; the defaults are the reference's.
    public init(
      expMult: Float = 0.001, stepMult: Float = 0.001, hiddenSize: Int = 4,
      hiddenLayers: Int = 2, initialMomentumDecays: [Float] = [0.9, 0.99, 0.999],
      initialRMSDecay: Float = 0.999, initialAdafactorDecays: [Float] = [0.9, 0.99, 0.999]
    ) {
      self.expMult = expMult
      self.stepMult = stepMult
      self.hiddenSize = hiddenSize
      self.hiddenLayers = hiddenLayers
      self.initialMomentumDecays = initialMomentumDecays
      self.initialRMSDecay = initialRMSDecay
      self.initialAdafactorDecays = initialAdafactorDecays
    }

    /// The number of decays per accumulator kind, K.
    var decayCount: Int { initialMomentumDecays.count }

    /// The number of normalised features per element: 4 + 8K.
    var featureCount: Int { 4 + 8 * decayCount }

    /// The MLP's layer widths, input first.
    var widths: [Int] {
      [featureCount + TrainingStepEmbedding.count]
        + Array(repeating: hiddenSize, count: hiddenLayers) + [2]
    }

    /// Throws unless the sizes are positive and the decay lists match.
    func validate() throws {
      guard hiddenSize > 0, hiddenLayers >= 0, decayCount > 0,
        initialAdafactorDecays.count == decayCount
      else {
        throw ArchitectureError(
          "AdafacMLP needs hiddenSize > 0, hiddenLayers ≥ 0 and as many Adafactor as "
            + "momentum decays (at least one), got \(hiddenSize), \(hiddenLayers), "
            + "\(initialMomentumDecays), \(initialAdafactorDecays)")
      }
    }
  }

  /// The effective decays `β = 1 − (1 − β₀)·exp(10·θ)`, evaluated in `Float` as the reference does.
  public struct Decays: Sendable, Equatable {
    /// The momentum decays.
    public var momentum: [Float]
    /// The second-moment decay (clipped to [0, 1] where it is used).
    public var rms: Float
    /// The Adafactor decays (clipped to [0, 1] where they are used).
    public var adafactor: [Float]
  }

  /// The architecture this optimizer was built with.
  public let configuration: Configuration

  /// θ: the MLP weights `nn.~.{w,b}<i>` and the decay offsets `momentum_decays`,
  /// `rms_decays`, `adafactor_decays`, named as in the reference.
  public var metaParameters: ParameterSet {
    willSet {
      precondition(
        newValue.layout == metaParameters.layout,
        "AdafacMLP's meta-parameters must keep the layout of its configuration")
    }
    didSet { decays = Self.decays(configuration, metaParameters) }
  }

  /// The decays in use, derived from ``metaParameters`` (tests may pin them to reference values).
  public internal(set) var decays: Decays

  let kernel: PerParameterKernel

  /// The meta-parameter layout of `configuration` in JAX leaf order.
  public static func metaParameterLayout(for configuration: Configuration) -> ParameterLayout {
    let widths = configuration.widths
    let k = configuration.decayCount
    var leaves: [(keyPath: [String], shape: [Int])] = [
      (keyPath: ["momentum_decays"], shape: [k]),
      (keyPath: ["rms_decays"], shape: [1]),
      (keyPath: ["adafactor_decays"], shape: [k]),
    ]
    leaves += MetaParameterTree.denseLeaves(under: ["nn", "~"], widths: widths)
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
    decays = Self.decays(configuration, metaParameters)
    kernel = PerParameterKernel(
      network: PerParameterMLP(widths: configuration.widths, layout: layout, prefix: "nn.~."),
      expMult: configuration.expMult, stepMult: configuration.stepMult)
  }

  /// Meta-parameters drawn as the reference initialises them: weights from
  /// `TruncatedNormal(1/√fan_in)`, biases and decay offsets zero.
  public static func initialMetaParameters(
    for configuration: Configuration, key: RandomKey
  ) -> ParameterSet {
    MetaParameterTree.initialise(metaParameterLayout(for: configuration), key: key) {
      $0.hasPrefix("nn.~.w")
    }
  }

  /// `1 − (1 − β₀)·exp(10·(θ))` through the reference's `log(1 − β₀)/10 + θ` in `Float`.
  private static func decays(_ configuration: Configuration, _ theta: ParameterSet) -> Decays {
    func effective(_ initial: [Float], _ name: String) -> [Float] {
      let offsets = theta[name].scalars
      return zip(initial, offsets).map { initial, offset in
        1 - Foundation.exp((Foundation.log(1 - initial) / 10 + offset) * 10)
      }
    }
    return Decays(
      momentum: effective(configuration.initialMomentumDecays, "momentum_decays"),
      rms: effective([configuration.initialRMSDecay], "rms_decays")[0],
      adafactor: effective(configuration.initialAdafactorDecays, "adafactor_decays"))
  }

  /// The step counter, the accumulators and every buffer a step needs.
  ///
  /// Accumulators are parameter sets named like the parameters, decay axis first: for a tensor
  /// of shape `S`, `momentum` is `[K] + S`, `rms` is `S + [1]`; for rank ≥ 2 `factoredRows` is
  /// `[K] +` `S` without its largest axis and `factoredColumns` `[K] +` `S` without its second
  /// largest, `diagonal` is `[K, 0]`; for rank < 2 the reverse (`diagonal` `[K] + S`).
  public struct State: Sendable {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The planned number of steps (stored, not used by the update, as in the reference).
    public var totalSteps: Int
    /// The momenta.
    public var momentum: ParameterSet
    /// The second-moment accumulator.
    public var rms: ParameterSet
    /// The factored row statistics (reference `v_row`).
    public var factoredRows: ParameterSet
    /// The factored column statistics (reference `v_col`).
    public var factoredColumns: ParameterSet
    /// The full accumulator of rank < 2 tensors (reference `v_diag`).
    public var diagonal: ParameterSet
    var factored: [FactoredShape?]
    var workspace: PerParameterWorkspace
  }

  /// Zero accumulators in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    let k = configuration.decayCount
    let entries = parameters.layout.entries
    let factored = entries.map { FactoredShape(shape: $0.shape) }
    func layout(_ shape: (ParameterLayout.Entry, FactoredShape?) -> [Int]) -> ParameterLayout {
      ParameterLayout(
        entries.map { (name: $0.name, shape: [k] + shape($0, FactoredShape(shape: $0.shape))) })
    }
    return State(
      iteration: 0, totalSteps: totalSteps,
      momentum: ParameterSet(layout: layout { entry, _ in entry.shape }),
      rms: ParameterSet(
        layout: ParameterLayout(entries.map { (name: $0.name, shape: $0.shape + [1]) })),
      factoredRows: ParameterSet(
        layout: layout { entry, axes in axes?.rowShape(of: entry.shape) ?? [0] }),
      factoredColumns: ParameterSet(
        layout: layout { entry, axes in axes?.columnShape(of: entry.shape) ?? [0] }),
      diagonal: ParameterSet(layout: layout { entry, axes in axes == nil ? entry.shape : [0] }),
      factored: factored,
      workspace: PerParameterWorkspace(
        kernel: kernel,
        tensors: zip(entries, factored).map { tensor(count: $0.count, factored: $1) }))
  }

  /// Applies one AdafacMLP step to every tensor.
  ///
  /// - Complexity: O(parameters × MLP size); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    var trace: PerParameterTrace? = nil
    update(&parameters, gradients: gradients, state: &state, trace: &trace)
  }

  /// The number of momentum decays (as many as Adafactor decays).
  var momentumDecayCount: Int { configuration.decayCount }

  /// Calls `body` with the state's buffers and each tensor's accumulators and decays.
  func withKernelTensors(_ state: inout State, _ body: KernelTensorsBody) {
    let k = momentumDecayCount
    let (rowLayout, columnLayout) = (state.factoredRows.layout, state.factoredColumns.layout)
    let (diagonalLayout, factored, rmsDecay) = (state.diagonal.layout, state.factored, decays.rms)
    decays.momentum.withUnsafeBufferPointer { momentumDecays in
      decays.adafactor.withUnsafeBufferPointer { adafactorDecays in
        state.withAccumulators { buffers in
          body(buffers.stepFeatures, buffers.scratch) { index, entry in
            var tensor = tensor(count: entry.count, factored: factored[index])
            tensor.rms = buffers.rms + entry.offset
            tensor.rmsDecay = rmsDecay
            tensor.momentum = buffers.momentum + entry.offset * k
            tensor.momentumDecays = momentumDecays.baseAddress
            tensor.adafactorDecays = adafactorDecays.baseAddress
            if factored[index] == nil {
              tensor.diagonal = buffers.diagonal + diagonalLayout.entries[index].offset
            } else {
              tensor.rows = buffers.rows + rowLayout.entries[index].offset
              tensor.columns = buffers.columns + columnLayout.entries[index].offset
            }
            return tensor
          }
        }
      }
    }
  }

  /// A kernel tensor of `count` elements with no buffers yet: factored when `factored` is given.
  private func tensor(count: Int, factored view: FactoredShape?) -> LoptPerParameterTensor {
    LoptPerParameterTensor(
      parameters: nil, gradients: nil, count: count, adafactor: 1, factored: view == nil ? 0 : 1,
      momentum: nil, momentumDecays: nil,
      k: configuration.decayCount, rms: nil, rmsDecay: 0, adafactorDecays: nil,
      diagonal: nil, rows: nil, columns: nil, outer: view?.outer ?? 1,
      extentA: view?.extentA ?? 1, middle: view?.middle ?? 1, extentB: view?.extentB ?? 1,
      inner: view?.inner ?? 1, rowAxisIsA: view?.rowAxisIsA == true ? 1 : 0)
  }
}

extension AdafacMLP: PerParameterOptimizer {}

/// Pointers to every state buffer, valid inside `AdafacMLP.State.withAccumulators`.
private struct AdafacBuffers {
  let momentum: UnsafeMutablePointer<Float>
  let rms: UnsafeMutablePointer<Float>
  let rows: UnsafeMutablePointer<Float>
  let columns: UnsafeMutablePointer<Float>
  let diagonal: UnsafeMutablePointer<Float>
  let stepFeatures: UnsafeMutablePointer<Float>
  let scratch: UnsafeMutablePointer<Float>
}

extension AdafacMLP.State: PerParameterState {
  /// Calls `body` with pointers to every state buffer.
  fileprivate mutating func withAccumulators(_ body: (AdafacBuffers) -> Void) {
    // The momenta are non-empty because the parameters are (checked by the caller); the
    // factored and diagonal buffers may be empty, so their base addresses fall back to the
    // momentum buffer, unused.
    momentum.withUnsafeMutableBufferPointer { m in
      rms.withUnsafeMutableBufferPointer { v in
        factoredRows.withUnsafeMutableBufferPointer { rows in
          factoredColumns.withUnsafeMutableBufferPointer { columns in
            diagonal.withUnsafeMutableBufferPointer { full in
              workspace.withBuffers { stepFeatures, scratch in
                let fallback = m.baseAddress!
                body(
                  AdafacBuffers(
                    momentum: fallback, rms: v.baseAddress!, rows: rows.baseAddress ?? fallback,
                    columns: columns.baseAddress ?? fallback,
                    diagonal: full.baseAddress ?? fallback, stepFeatures: stepFeatures,
                    scratch: scratch))
              }
            }
          }
        }
      }
    }
  }
}
