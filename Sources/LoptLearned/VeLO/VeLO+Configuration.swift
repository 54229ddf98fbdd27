extension VeLO {
  /// VeLO's architecture and hyper-parameters (`HyperV2`'s constructor arguments).
  ///
  /// The defaults are the released VeLO (docs/velo.md §2): `H = 512`, `P = 256`, real loss
  /// buffer (`use_bugged_loss_features = false`). The per-parameter MLP is fixed at
  /// 30 → 4 → 4 → 3 (`ff_hidden_size = 4`, `ff_hidden_layers = 2`), the mixing layer is on and
  /// there are 3 momentum, 1 RMS and 3 factored decays, as in every published configuration.
  public struct Configuration: Codable, Sendable, Hashable {
    /// The LSTM width `H` (`lstm_hidden_size`), also the mixing layer's width.
    public var lstmHiddenSize: Int
    /// The number of MLP templates `P` in the bank (`param_inits`).
    public var paramInits: Int
    /// The per-parameter MLP's hidden width (`ff_hidden_size`); only 4 is supported.
    public var ffHiddenSize: Int
    /// The per-parameter MLP's hidden layer count (`ff_hidden_layers`); only 2 is supported.
    public var ffHiddenLayers: Int
    /// The three momentum decays (`initial_momentum_decays`).
    public var momentumDecays: [Float]
    /// The second-moment decay (`initial_rms_decays`, one value).
    public var rmsDecay: Float
    /// The three factored second-moment decays (`initial_adafactor_decays`).
    public var adafactorDecays: [Float]
    /// The scale inside the exponential of the magnitude output (`exp_mult`).
    public var expMult: Float
    /// The global step scale (`step_mult`).
    public var stepMult: Float
    /// Whether the step is multiplied by the tensor's RMS (`param_scale_mult`).
    public var paramScaleMult: Bool
    /// Whether the loss buffer uses a 10-step horizon instead of `num_steps`
    /// (`use_bugged_loss_features`; the code default is `true`, the released VeLO `false`).
    public var useBuggedLossFeatures: Bool
    /// Whether the LSTM state is never advanced (`use_bugged_next_lstm_state`).
    public var useBuggedNextLSTMState: Bool
    /// Whether the step is divided by `sqrt(rms + 1e-6)` (`precondition_output`).
    public var preconditionOutput: Bool
    /// Shrinks the LSTM state by `1 − rnnStateDecay` each step (`rnn_state_decay`).
    public var rnnStateDecay: Float

    /// Creates a configuration; the defaults are the released VeLO.
    public init(
      lstmHiddenSize: Int = 512, paramInits: Int = 256, ffHiddenSize: Int = 4,
      ffHiddenLayers: Int = 2, momentumDecays: [Float] = [0.9, 0.99, 0.999],
      rmsDecay: Float = 0.999, adafactorDecays: [Float] = [0.9, 0.99, 0.999],
      expMult: Float = 0.001, stepMult: Float = 0.001, paramScaleMult: Bool = true,
      useBuggedLossFeatures: Bool = false, useBuggedNextLSTMState: Bool = false,
      preconditionOutput: Bool = false, rnnStateDecay: Float = 0
    ) {
      self.lstmHiddenSize = lstmHiddenSize
      self.paramInits = paramInits
      self.ffHiddenSize = ffHiddenSize
      self.ffHiddenLayers = ffHiddenLayers
      self.momentumDecays = momentumDecays
      self.rmsDecay = rmsDecay
      self.adafactorDecays = adafactorDecays
      self.expMult = expMult
      self.stepMult = stepMult
      self.paramScaleMult = paramScaleMult
      self.useBuggedLossFeatures = useBuggedLossFeatures
      self.useBuggedNextLSTMState = useBuggedNextLSTMState
      self.preconditionOutput = preconditionOutput
      self.rnnStateDecay = rnnStateDecay
    }

    /// The small configuration of the unit-test fixture (`H = 16`, `P = 8`).
    public static let small = Configuration(lstmHiddenSize: 16, paramInits: 8)

    /// Throws when a setting is outside what this implementation supports.
    public func validate() throws {
      func fail(_ message: String) -> VeLOError { .unsupportedConfiguration(message) }
      guard lstmHiddenSize >= 1 else { throw fail("lstmHiddenSize must be ≥ 1") }
      guard paramInits >= 1 else { throw fail("paramInits must be ≥ 1") }
      guard ffHiddenSize == 4, ffHiddenLayers == 2 else {
        throw fail("only the 30 → 4 → 4 → 3 MLP (ffHiddenSize 4, ffHiddenLayers 2) is supported")
      }
      guard momentumDecays.count == 3, adafactorDecays.count == 3 else {
        throw fail("there must be 3 momentum and 3 adafactor decays")
      }
      guard (0...1).contains(rmsDecay), (0...1).contains(rnnStateDecay) else {
        throw fail("rmsDecay and rnnStateDecay must be in [0, 1]")
      }
    }
  }
}
