import LoptCore

extension VeLO {
  /// The meta-parameter layout for `configuration`, in the reference's JAX leaf order.
  ///
  /// Names are the reference tree's keys joined with `.` (no key contains a dot; haiku module
  /// names contain `/`): `ff_mod_stack.~.w0__0`, `lstm_init_state.hidden`,
  /// `rnn_params.rnn/linear.w`, … — the `name` field of the fixtures' `meta_params` list.
  /// The order is JAX's: sorted keys, except `lstm_init_state` whose fields keep the named
  /// tuple's order (`hidden`, `cell`).
  public static func metaParameterLayout(for configuration: Configuration) -> ParameterLayout {
    let (h, p) = (configuration.lstmHiddenSize, configuration.paramInits)
    var tensors: [(name: String, shape: [Int])] = [
      ("ff_mod_stack.~.b0", [p, 4]), ("ff_mod_stack.~.b1", [p, 4]), ("ff_mod_stack.~.b2", [p, 3]),
    ]
    // w0__0 … w0__13 sorted as strings: 0, 1, 10, 11, 12, 13, 2, …, 9.
    let groups = (0..<mlpInputGroups.count).map(String.init).sorted()
    for name in groups {
      tensors.append(("ff_mod_stack.~.w0__\(name)", [p, mlpInputGroups[Int(name)!], 4]))
    }
    tensors += [
      ("ff_mod_stack.~.w1", [p, 4, 4]), ("ff_mod_stack.~.w2", [p, 4, 3]),
      ("lstm_init_state.hidden", [1, h]), ("lstm_init_state.cell", [1, h]),
      ("rnn_params.linear.b", [h]), ("rnn_params.linear.w", [30, h]),
      ("rnn_params.linear_1.b", [h]), ("rnn_params.linear_1.w", [30, h]),
      ("rnn_params.linear_2.b", [h]), ("rnn_params.linear_2.w", [30, h]),
      ("rnn_params.rnn/linear.b", [4 * h]), ("rnn_params.rnn/linear.w", [2 * h, 4 * h]),
      ("rnn_params.rnn_to_controls.b", [p]), ("rnn_params.rnn_to_controls.w", [h, p]),
      ("rnn_params.step_size.b", [1]), ("rnn_params.step_size.w", [h, 1]),
    ]
    return ParameterLayout(tensors)
  }

  /// Meta-parameters drawn as `HyperV2.init` draws them (docs/velo.md §13).
  ///
  /// Every weight is haiku's `TruncatedNormal(σ)` (σ × a standard normal truncated to ±2, not
  /// rescaled) with σ = 1/√fan-in (`1/√30` for the first MLP layer and the mixing layers, `0.5`
  /// for the MLP's 4-wide layers, `1/√(2H)` for the LSTM, `1/√H` for the heads); biases and the
  /// initial LSTM state are zero. Each tensor uses its own key split from `key`. (The numbers
  /// are not JAX's; only the distributions are.)
  public static func initialMetaParameters(
    for configuration: Configuration, key: RandomKey
  ) -> ParameterSet {
    let layout = metaParameterLayout(for: configuration)
    var theta = ParameterSet(layout: layout)
    let keys = key.split(into: layout.count)
    let h = Float(configuration.lstmHiddenSize)
    for (index, entry) in layout.entries.enumerated() {
      let leaf = entry.name.split(separator: ".").last.map(String.init) ?? ""
      guard leaf.hasPrefix("w") else { continue }
      let sigma: Float
      if entry.name.hasPrefix("ff_mod_stack") {
        sigma = leaf.hasPrefix("w0__") ? 1 / Float(30).squareRoot() : 0.5
      } else if entry.name.hasPrefix("rnn_params.rnn/linear") {
        sigma = 1 / (2 * h).squareRoot()
      } else if entry.name.hasPrefix("rnn_params.rnn_to_controls")
        || entry.name.hasPrefix("rnn_params.step_size")
      {
        sigma = 1 / h.squareRoot()
      } else {
        sigma = 1 / Float(30).squareRoot()
      }
      theta.withUnsafeMutableBufferPointer(ofTensor: index) {
        keys[index].fillTruncatedNormal($0, standardDeviation: sigma)
      }
    }
    return theta
  }

  /// Channels per first-layer input group `w0__j` (total 30).
  static let mlpInputGroups = [1, 1, 1, 3, 1, 3, 1, 3, 1, 3, 3, 3, 3, 3]

  /// Offsets into θ of the tensors the step reads, computed once from the layout.
  struct MetaOffsets: Sendable, Hashable {
    var initHidden = 0, initCell = 0
    var mixMaxWeight = 0, mixMaxBias = 0, mixWeight = 0, mixBias = 0
    var lstmWeight = 0, lstmBias = 0
    var controlsWeight = 0, controlsBias = 0, stepSizeWeight = 0, stepSizeBias = 0
    /// Offsets of the bank arrays in the mixed-MLP order (w0__0…w0__13, b0, w1, b1, w2, b2).
    var bank: [Int] = []
    /// The number of meta-parameters.
    var total = 0

    init(layout: ParameterLayout) {
      func offset(_ name: String) -> Int { layout.entry(named: name)!.offset }
      initHidden = offset("lstm_init_state.hidden")
      initCell = offset("lstm_init_state.cell")
      mixMaxWeight = offset("rnn_params.linear_1.w")
      mixMaxBias = offset("rnn_params.linear_1.b")
      mixWeight = offset("rnn_params.linear_2.w")
      mixBias = offset("rnn_params.linear_2.b")
      lstmWeight = offset("rnn_params.rnn/linear.w")
      lstmBias = offset("rnn_params.rnn/linear.b")
      controlsWeight = offset("rnn_params.rnn_to_controls.w")
      controlsBias = offset("rnn_params.rnn_to_controls.b")
      stepSizeWeight = offset("rnn_params.step_size.w")
      stepSizeBias = offset("rnn_params.step_size.b")
      bank = VeLO.bankOrder.map { offset($0.name) }
      total = layout.totalCount
    }
  }

  /// The bank arrays in the order of the mixed per-tensor MLP (159 numbers): `w0` rows by group
  /// 0…13, then `b0`, `w1`, `b1`, `w2`, `b2`; each with its width per template.
  static let bankOrder: [(name: String, width: Int)] =
    mlpInputGroups.enumerated().map { ("ff_mod_stack.~.w0__\($0.offset)", $0.element * 4) } + [
      ("ff_mod_stack.~.b0", 4), ("ff_mod_stack.~.w1", 16), ("ff_mod_stack.~.b1", 4),
      ("ff_mod_stack.~.w2", 12), ("ff_mod_stack.~.b2", 3),
    ]

  /// Floats in one mixed per-tensor MLP: 120 + 4 + 16 + 4 + 12 + 3.
  static let mlpWeightCount = 159
}
