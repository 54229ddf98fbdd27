import CLoptShims
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
/// The decays are meta-learned offsets: `β = 1 − (1 − β₀)·exp(10·θ)`. See VELO_SPEC.md §2.2.
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
        throw CheckpointError.architectureMismatch(
          reason: "AdafacMLP needs hiddenSize > 0, hiddenLayers ≥ 0 and as many Adafactor as "
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

  private let network: PerParameterMLP

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
  /// - Throws: ``CheckpointError`` if the configuration is invalid or `metaParameters` does not
  ///   have ``metaParameterLayout(for:)``.
  public init(configuration: Configuration, metaParameters: ParameterSet) throws {
    try configuration.validate()
    let layout = Self.metaParameterLayout(for: configuration)
    try MetaParameterTree.validate(metaParameters, against: layout)
    self.configuration = configuration
    self.metaParameters = metaParameters
    decays = Self.decays(configuration, metaParameters)
    network = PerParameterMLP(widths: configuration.widths, layout: layout, prefix: "nn.~.")
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
  /// Accumulators are parameter sets named like the parameters, decay axis last: for a tensor of
  /// shape `S`, `momentum` is `S + [K]`, `rms` is `S + [1]`; for rank ≥ 2 `factoredRows` is `S`
  /// without its largest axis `+ [K]` and `factoredColumns` `S` without its second largest
  /// `+ [K]`, `diagonal` is `[0, K]`; for rank < 2 the reverse (`diagonal` `S + [K]`).
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
    var plans: [FactoredPlan?]
    var rowFactors: ParameterSet
    var columnFactors: ParameterSet
    var rowRsqrt: ParameterSet
    var columnRsqrt: ParameterSet
    var scratch: PerParameterScratch
  }

  /// Zero accumulators in the parameters' layout.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    let k = configuration.decayCount
    let entries = parameters.layout.entries
    let plans = entries.map { FactoredPlan(shape: $0.shape) }
    func layout(_ shape: (ParameterLayout.Entry, FactoredAxes?) -> [Int]) -> ParameterLayout {
      ParameterLayout(
        entries.map { (name: $0.name, shape: shape($0, FactoredAxes(shape: $0.shape)) + [k]) })
    }
    let rows = layout { entry, axes in axes?.rowShape(of: entry.shape) ?? [0] }
    let columns = layout { entry, axes in axes?.columnShape(of: entry.shape) ?? [0] }
    return State(
      iteration: 0, totalSteps: totalSteps,
      momentum: ParameterSet(layout: layout { entry, _ in entry.shape }),
      rms: ParameterSet(
        layout: ParameterLayout(entries.map { (name: $0.name, shape: $0.shape + [1]) })),
      factoredRows: ParameterSet(layout: rows), factoredColumns: ParameterSet(layout: columns),
      diagonal: ParameterSet(layout: layout { entry, axes in axes == nil ? entry.shape : [0] }),
      plans: plans, rowFactors: ParameterSet(layout: rows),
      columnFactors: ParameterSet(layout: columns), rowRsqrt: ParameterSet(layout: rows),
      columnRsqrt: ParameterSet(layout: columns),
      scratch: PerParameterScratch(featureCount: configuration.featureCount, network: network))
  }

  /// Applies one AdafacMLP step to every tensor.
  ///
  /// - Complexity: O(parameters × MLP size); allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
  ) {
    var observer = NoObserver()
    update(&parameters, gradients: gradients, state: &state, observer: &observer)
  }

  /// ``update(_:gradients:loss:state:)`` reporting every element's intermediates to `observer`.
  func update<Observer: PerParameterObserver>(
    _ parameters: inout ParameterSet, gradients: ParameterSet, state: inout State,
    observer: inout Observer
  ) {
    let k = configuration.decayCount
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    precondition(state.momentum.count == parameters.count * k, "state does not match parameters")
    defer { state.iteration += 1 }
    guard parameters.count > 0 else { return }
    PerParameterStep.setStepFeatures(
      iteration: state.iteration, featureCount: configuration.featureCount,
      scratch: &state.scratch)
    let layout = parameters.layout
    let rowLayout = state.factoredRows.layout
    let columnLayout = state.factoredColumns.layout
    let diagonalLayout = state.diagonal.layout
    let decays = decays
    for (index, entry) in layout.entries.enumerated() {
      let count = entry.count
      metaParameters.withUnsafeBufferPointer { theta in
        gradients.withUnsafeBufferPointer { gAll in
          parameters.withUnsafeMutableBufferPointer { pAll in
            state.withBuffers(
              tensor: index, offset: entry.offset, k: k,
              rowOffset: rowLayout.entries[index].offset,
              columnOffset: columnLayout.entries[index].offset,
              diagonalOffset: diagonalLayout.entries[index].offset
            ) { buffers, scratch in
              let g = UnsafePointer(gAll.baseAddress! + entry.offset)
              Accumulators.updateMomentum(
                buffers.momentum, gradient: g, count: count, decays: decays.momentum)
              Accumulators.updateSecondMoment(
                buffers.rms, gradient: g, count: count, decay: decays.rms)
              if let plan = buffers.plan {
                Accumulators.updateFactored(
                  plan: plan, gradient: g, count: count, decays: decays.adafactor,
                  statistics: buffers.factored)
              } else {
                Accumulators.updateDiagonal(
                  buffers.diagonal, gradient: g, count: count, decays: decays.adafactor)
              }
              let source = AdafacFeatures(
                gradient: g, parameters: pAll.baseAddress! + entry.offset,
                momentum: buffers.momentum, rms: buffers.rms, plan: buffers.plan,
                factored: buffers.factored, diagonal: buffers.diagonal, k: k)
              PerParameterStep.apply(
                source, tensor: index, parameters: pAll.baseAddress! + entry.offset,
                count: count, network: network, theta: theta.baseAddress!,
                expMult: configuration.expMult, stepMult: configuration.stepMult,
                scratch: &scratch, observer: &observer)
            }
          }
        }
      }
    }
  }
}

/// Pointers to one tensor's accumulators and factors, valid inside `AdafacMLP.State.withBuffers`.
private struct AdafacBuffers {
  let plan: FactoredPlan?
  let momentum: UnsafeMutablePointer<Float>
  let rms: UnsafeMutablePointer<Float>
  let diagonal: UnsafeMutablePointer<Float>
  let factored: FactoredBuffers
}

extension AdafacMLP.State {
  /// Calls `body` with pointers into tensor `tensor`'s slices of every state buffer.
  fileprivate mutating func withBuffers(
    tensor: Int, offset: Int, k: Int, rowOffset: Int, columnOffset: Int, diagonalOffset: Int,
    _ body: (AdafacBuffers, inout PerParameterScratch) -> Void
  ) {
    // Every buffer below is non-empty because the parameters are (checked by the caller); the
    // factored ones may be, so their base addresses fall back to the momentum buffer, unused.
    momentum.withUnsafeMutableBufferPointer { m in
      rms.withUnsafeMutableBufferPointer { v in
        factoredRows.withUnsafeMutableBufferPointer { rows in
          factoredColumns.withUnsafeMutableBufferPointer { columns in
            diagonal.withUnsafeMutableBufferPointer { full in
              rowFactors.withUnsafeMutableBufferPointer { rowFactor in
                columnFactors.withUnsafeMutableBufferPointer { columnFactor in
                  rowRsqrt.withUnsafeMutableBufferPointer { rowRoot in
                    columnRsqrt.withUnsafeMutableBufferPointer { columnRoot in
                      let fallback = m.baseAddress!
                      func base(_ buffer: UnsafeMutableBufferPointer<Float>, _ at: Int)
                        -> UnsafeMutablePointer<Float>
                      {
                        (buffer.baseAddress ?? fallback) + at
                      }
                      let buffers = AdafacBuffers(
                        plan: plans[tensor], momentum: m.baseAddress! + offset * k,
                        rms: v.baseAddress! + offset, diagonal: base(full, diagonalOffset),
                        factored: FactoredBuffers(
                          row: base(rows, rowOffset), column: base(columns, columnOffset),
                          rowFactor: base(rowFactor, rowOffset),
                          columnFactor: base(columnFactor, columnOffset),
                          rowRsqrt: base(rowRoot, rowOffset),
                          columnRsqrt: base(columnRoot, columnOffset)))
                      body(buffers, &scratch)
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

/// AdafacMLP's 28 features of one tensor (for K = 3), in the reference's order.
private struct AdafacFeatures: PerParameterFeatures {
  let gradient: UnsafePointer<Float>
  let parameters: UnsafePointer<Float>
  let momentum: UnsafePointer<Float>
  let rms: UnsafePointer<Float>
  let plan: FactoredPlan?
  let factored: FactoredBuffers
  let diagonal: UnsafePointer<Float>
  let k: Int

  var featureCount: Int { 4 + 8 * k }

  @inline(__always)
  func write(element i: Int, into f: UnsafeMutablePointer<Float>) {
    let g = gradient[i]
    let m = momentum + i * k
    let v = rms[i]
    let u = lopt_rsqrtf(v + 1e-6)
    f[0] = g
    f[1] = parameters[i]
    f[2 + k] = v
    f[3 + 2 * k] = u
    for j in 0..<k {
      f[2 + j] = m[j]
      f[3 + k + j] = m[j] * u
    }
    let facG = f + 4 + 2 * k
    let row = facG + k
    let column = row + k
    let rowRoot = column + k
    let columnRoot = rowRoot + k
    let facMomentum = columnRoot + k
    if let plan {
      let r = plan.rows.reducedIndex(i) * k
      let c = plan.columns.reducedIndex(i) * k
      for j in 0..<k {
        let rowFactor = factored.rowFactor[r + j]
        let columnFactor = factored.columnFactor[c + j]
        facG[j] = g * rowFactor * columnFactor
        row[j] = factored.row[r + j]
        column[j] = factored.column[c + j]
        rowRoot[j] = factored.rowRsqrt[r + j]
        columnRoot[j] = factored.columnRsqrt[c + j]
        facMomentum[j] = m[j] * rowFactor * columnFactor
      }
    } else {
      let full = diagonal + i * k
      for j in 0..<k {
        let x = full[j]
        let root = lopt_rsqrtf(x + 1e-8)
        facG[j] = g * Accumulators.safeRsqrt(x + 1e-9)
        row[j] = x
        column[j] = x
        rowRoot[j] = root
        columnRoot[j] = root
        facMomentum[j] = m[j] * lopt_rsqrtf(x + 1e-6)
      }
    }
  }
}
