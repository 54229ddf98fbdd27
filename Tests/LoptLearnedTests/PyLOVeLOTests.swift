import Foundation
import LoptCore
import Testing

@testable import LoptLearned

/// VeLO in PyLO's Hugging Face layout, made here from the reference fixture's meta-parameters by
/// reading PyLO's model code (Belilovsky-Lab/pylo at d05c6c1), loads to the same θ bit for bit.
///
/// - `pylo/models/VeLO_RNN.py`, `VeLORNN.__init__` (lines 96–108): `mix_layer1`, `mix_layer2`,
///   `final_mix_layer` are `nn.Linear(30, H)`; `lstm.linear` is `nn.Linear(2H, 4H)` over
///   `[x, h]` (`LSTM`, lines 41 and 57); `rnn_to_controls` `nn.Linear(H, P)`, `step_size`
///   `nn.Linear(H, 1)`, `lstm_init_state` a list of two `[1, H]` parameters (the hidden state,
///   then the cell). `forward` (lines 110–135) skips
///   `mix_layer1` (the reference's unused `linear`), maxes `mix_layer2` over tensors (the
///   reference's `linear_1`) and adds `final_mix_layer` (`linear_2`); the LSTM splits its gates
///   as i, g, f, o with `f + 1` (lines 59–61), as haiku's `LSTM` does.
/// - `pylo/models/VeLO_MLP.py`, `VeLOMLP.__init__` (lines 63–77): the bank is
///   `input_weights_ [P, 4, 30]`, `input_bias_ [P, 4]`, `hidden_weights_.0 [P, 4, 4]`,
///   `hidden_bias_.0 [P, 4]`, `output_weights_ [P, 3, 4]`, `output_bias_ [P, 3]`, used as
///   `F.linear` weights (`[out, in]`, lines 138–141); `update_params` (lines 92–125) mixes them
///   as `mean_k(c_k · A_k) · 100`, the reference's `(100 / P) Σ_k c_k A_k`.
/// - `pylo/optim/Velo_naive.py`, `step` (lines 441–490): the 30 inputs are concatenated
///   as g, clipped g, p, m (3), rms, m·rsqrt (3), rsqrt, fac_g (3), rms-normalised g, row (3),
///   column (3), their rsqrt (3 + 3), factored momentum (3) — the reference's input groups
///   `w0__0` … `w0__13` in numeric order.
@Suite struct PyLOVeLOTests {
  /// The fixture's θ as PyLO's two module files.
  static func pyloFiles(_ theta: ParameterSet) -> (rnn: SafetensorsFile, mlp: SafetensorsFile) {
    func transposed(_ name: String) -> Tensor { PyLOVeLO.transposingLastAxes(theta[name]) }
    var rnn = SafetensorsFile()
    rnn.setFloat(theta["lstm_init_state.hidden"], named: "lstm_init_state.0")
    rnn.setFloat(theta["lstm_init_state.cell"], named: "lstm_init_state.1")
    for (module, reference) in [
      ("mix_layer1", "linear"), ("mix_layer2", "linear_1"), ("final_mix_layer", "linear_2"),
      ("lstm.linear", "rnn/linear"), ("rnn_to_controls", "rnn_to_controls"),
      ("step_size", "step_size"),
    ] {
      rnn.setFloat(transposed("rnn_params.\(reference).w"), named: "\(module).weight")
      rnn.setFloat(theta["rnn_params.\(reference).b"], named: "\(module).bias")
    }
    var mlp = SafetensorsFile()
    let p = theta["ff_mod_stack.~.b0"].shape[0]
    // input_weights_[k, o, column] = w0__j[k, i, o] for the column of input i of group j.
    var input = [Float](repeating: 0, count: p * 4 * 30)
    var column = 0
    for group in 0..<14 {
      let w = theta["ff_mod_stack.~.w0__\(group)"]
      let width = w.shape[1]
      let values = w.scalars
      for k in 0..<p {
        for i in 0..<width {
          for o in 0..<4 { input[(k * 4 + o) * 30 + column + i] = values[(k * width + i) * 4 + o] }
        }
      }
      column += width
    }
    mlp.setFloat(Tensor(shape: [p, 4, 30], scalars: input), named: "input_weights_")
    mlp.setFloat(theta["ff_mod_stack.~.b0"], named: "input_bias_")
    mlp.setFloat(transposed("ff_mod_stack.~.w1"), named: "hidden_weights_.0")
    mlp.setFloat(theta["ff_mod_stack.~.b1"], named: "hidden_bias_.0")
    mlp.setFloat(transposed("ff_mod_stack.~.w2"), named: "output_weights_")
    mlp.setFloat(theta["ff_mod_stack.~.b2"], named: "output_bias_")
    // The live (mixed) weights PyLO also saves; recomputed every step, so ignored on reading.
    mlp.setFloat(Tensor(shape: [4, 30]), named: "input_weights")
    mlp.setFloat(Tensor(shape: [4]), named: "input_bias")
    mlp.setFloat(Tensor(shape: [4, 4]), named: "hidden_weights.0")
    mlp.setFloat(Tensor(shape: [4]), named: "hidden_bias.0")
    mlp.setFloat(Tensor(shape: [3, 4]), named: "output_weights")
    mlp.setFloat(Tensor(shape: [3]), named: "output_bias")
    return (rnn, mlp)
  }

  static func fixtureCheckpoint() throws -> Checkpoint {
    let fixture = try ReferenceFixture("velo/h16_p8")
    return try Checkpoint.load(fixture.file("meta_params.msgpack"))
  }

  @Test func aPyLOLayoutFileLoadsToTheFixturesMetaParametersBitForBit() throws {
    let reference = try Self.fixtureCheckpoint()
    let files = Self.pyloFiles(reference.metaParameters)
    let folder = FileManager.default.temporaryDirectory
      .appendingPathComponent("lopt-pylo-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    for (name, file) in [("VeLO_RNN", files.rnn), ("VeLO_MLP", files.mlp)] {
      let snapshot = folder.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
      try file.write(to: snapshot.appendingPathComponent("model.safetensors"))
    }
    let loaded = try PyLOVeLO.load(
      rnn: folder.appendingPathComponent("VeLO_RNN"), mlp: folder.appendingPathComponent("VeLO_MLP")
    )
    guard case .velo(let configuration) = loaded.configuration,
      case .velo(let expected) = reference.configuration
    else { throw CheckpointError.architectureMismatch(reason: "not VeLO") }
    #expect(configuration.lstmHiddenSize == expected.lstmHiddenSize)
    #expect(configuration.paramInits == expected.paramInits)
    #expect(loaded.metaParameters.layout == reference.metaParameters.layout)
    #expect(loaded.metaParameters.flat.scalars == reference.metaParameters.flat.scalars)
  }

  @Test func aMisshapenOrUnknownTensorIsNamedWithItsFile() throws {
    let theta = try Self.fixtureCheckpoint().metaParameters
    var (rnn, mlp) = Self.pyloFiles(theta)
    mlp.setFloat(Tensor(shape: [8, 4, 29]), named: "input_weights_")
    #expect(
      throws: CheckpointError.inFile(
        path: "VeLO_MLP",
        .shapeMismatch(tensor: "input_weights_", expected: [8, 4, 30], found: [8, 4, 29]))
    ) { try PyLOVeLO.checkpoint(rnn: rnn, mlp: mlp) }
    mlp = Self.pyloFiles(theta).mlp
    rnn.setFloat(Tensor(shape: [1]), named: "extra")
    #expect(throws: CheckpointError.inFile(path: "VeLO_RNN", .unexpectedTensors(["extra"]))) {
      try PyLOVeLO.checkpoint(rnn: rnn, mlp: mlp)
    }
  }
}
