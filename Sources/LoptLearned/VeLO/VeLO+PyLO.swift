import Foundation
import LoptCore

/// VeLO's meta-parameters in PyLO's layout: the two PyTorch modules PyLO publishes on the
/// Hugging Face Hub (`Pauljanson002/VeLO_RNN` and `Pauljanson002/VeLO_MLP`), each a
/// `model.safetensors` of its module's `state_dict`.
///
/// The mapping to the reference tree is derived from PyLO's model code (`pylo/models/VeLO_RNN.py`,
/// `VeLO_MLP.py`) and the order in which `pylo/optim/Velo_naive.py` concatenates the 30 MLP
/// inputs. PyLO stores `nn.Linear` weights as `[out, in]` where the reference stores `[in, out]`,
/// and keeps the bank's first layer as one `[P, 4, 30]` array where the reference has 14
/// `w0__j` arrays (one per input group, in group order). PyLO's repository has no VeLO
/// conversion script, and the published files cannot be downloaded on the machine Lopt was
/// built on: the mapping is verified against a file made from the reference fixture by the same
/// rules, not against the published weights. The configuration is VeLO's defaults with the
/// LSTM width and bank size read from the tensors.
public enum PyLOVeLO {
  /// The tensors of PyLO's MLP module that are recomputed from the bank every step (not
  /// meta-parameters); they are accepted and ignored.
  static let derivedMLPTensors: Set<String> = [
    "input_weights", "input_bias", "hidden_weights.0", "hidden_bias.0", "output_weights",
    "output_bias",
  ]

  /// Reads PyLO's two files (or Hub snapshot folders holding `model.safetensors`).
  ///
  /// - Throws: ``CheckpointError`` naming the file and tensor when a tensor is missing, has an
  ///   unexpected shape, or the files hold an architecture Lopt's VeLO does not have;
  ///   `SafetensorsError` for a damaged file.
  public static func load(rnn: URL, mlp: URL) throws -> Checkpoint {
    func read(_ url: URL) throws -> (SafetensorsFile, String) {
      var isFolder: ObjCBool = false
      let file =
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
          && isFolder.boolValue ? url.appendingPathComponent("model.safetensors") : url
      do {
        return (try SafetensorsFile(contentsOf: file), file.path)
      } catch let error as SafetensorsError {
        throw SafetensorsError.inFile(path: file.path, error)
      }
    }
    let (rnnFile, rnnPath) = try read(rnn)
    let (mlpFile, mlpPath) = try read(mlp)
    return try checkpoint(rnn: rnnFile, mlp: mlpFile, rnnPath: rnnPath, mlpPath: mlpPath)
  }

  /// The VeLO checkpoint held by PyLO's RNN and MLP module files.
  ///
  /// - Throws: ``CheckpointError`` (wrapped in the file's path when one is given).
  public static func checkpoint(
    rnn: SafetensorsFile, mlp: SafetensorsFile, rnnPath: String = "VeLO_RNN",
    mlpPath: String = "VeLO_MLP"
  ) throws -> Checkpoint {
    func located<T>(_ path: String, _ body: () throws -> T) throws -> T {
      do { return try body() } catch let error as CheckpointError { throw error.located(in: path) }
    }
    let (hidden, paramInits) = try located(rnnPath) { try sizes(rnn) }
    var configuration = VeLO.Configuration()
    configuration.lstmHiddenSize = hidden
    configuration.paramInits = paramInits
    try configuration.validate()
    var theta = ParameterSet(layout: VeLO.metaParameterLayout(for: configuration))
    try located(rnnPath) { try readRNN(rnn, into: &theta, hidden: hidden, paramInits: paramInits) }
    try located(mlpPath) { try readMLP(mlp, into: &theta, paramInits: paramInits) }
    return try Checkpoint(configuration: .velo(configuration), metaParameters: theta)
  }

  /// The LSTM width and bank size: `lstm_init_state.0` is `[1, H]`, `rnn_to_controls.weight`
  /// `[P, H]`.
  private static func sizes(_ rnn: SafetensorsFile) throws -> (hidden: Int, paramInits: Int) {
    guard let state = rnn["lstm_init_state.0"] else {
      throw CheckpointError.missingTensor("lstm_init_state.0")
    }
    guard let controls = rnn["rnn_to_controls.weight"] else {
      throw CheckpointError.missingTensor("rnn_to_controls.weight")
    }
    guard state.shape.count == 2, state.shape[0] == 1, state.shape[1] > 0,
      controls.shape.count == 2, controls.shape[0] > 0
    else {
      throw CheckpointError.architectureMismatch(
        reason: "expected lstm_init_state.0 of shape [1, H] and rnn_to_controls.weight of "
          + "shape [P, H], found \(state.shape) and \(controls.shape)")
    }
    return (state.shape[1], controls.shape[0])
  }

  /// PyLO module tensor → reference tensor: `transposed` swaps the last two axes.
  private struct Rule {
    let source: String
    let shape: [Int]
    let target: String
    let transposed: Bool
  }

  private static func readRNN(
    _ file: SafetensorsFile, into theta: inout ParameterSet, hidden h: Int, paramInits p: Int
  ) throws {
    let rules = [
      Rule(
        source: "lstm_init_state.0", shape: [1, h], target: "lstm_init_state.hidden",
        transposed: false),
      Rule(
        source: "lstm_init_state.1", shape: [1, h], target: "lstm_init_state.cell",
        transposed: false),
      Rule(
        source: "mix_layer1.weight", shape: [h, 30], target: "rnn_params.linear.w", transposed: true
      ),
      Rule(source: "mix_layer1.bias", shape: [h], target: "rnn_params.linear.b", transposed: false),
      Rule(
        source: "mix_layer2.weight", shape: [h, 30], target: "rnn_params.linear_1.w",
        transposed: true),
      Rule(
        source: "mix_layer2.bias", shape: [h], target: "rnn_params.linear_1.b", transposed: false),
      Rule(
        source: "final_mix_layer.weight", shape: [h, 30], target: "rnn_params.linear_2.w",
        transposed: true),
      Rule(
        source: "final_mix_layer.bias", shape: [h], target: "rnn_params.linear_2.b",
        transposed: false),
      Rule(
        source: "lstm.linear.weight", shape: [4 * h, 2 * h], target: "rnn_params.rnn/linear.w",
        transposed: true),
      Rule(
        source: "lstm.linear.bias", shape: [4 * h], target: "rnn_params.rnn/linear.b",
        transposed: false),
      Rule(
        source: "rnn_to_controls.weight", shape: [p, h], target: "rnn_params.rnn_to_controls.w",
        transposed: true),
      Rule(
        source: "rnn_to_controls.bias", shape: [p], target: "rnn_params.rnn_to_controls.b",
        transposed: false),
      Rule(
        source: "step_size.weight", shape: [1, h], target: "rnn_params.step_size.w",
        transposed: true),
      Rule(
        source: "step_size.bias", shape: [1], target: "rnn_params.step_size.b", transposed: false),
    ]
    try apply(rules, from: file, into: &theta, ignoring: [])
  }

  private static func readMLP(
    _ file: SafetensorsFile, into theta: inout ParameterSet, paramInits p: Int
  ) throws {
    let rules = [
      Rule(source: "input_bias_", shape: [p, 4], target: "ff_mod_stack.~.b0", transposed: false),
      Rule(
        source: "hidden_weights_.0", shape: [p, 4, 4], target: "ff_mod_stack.~.w1", transposed: true
      ),
      Rule(
        source: "hidden_bias_.0", shape: [p, 4], target: "ff_mod_stack.~.b1", transposed: false),
      Rule(
        source: "output_weights_", shape: [p, 3, 4], target: "ff_mod_stack.~.w2", transposed: true),
      Rule(source: "output_bias_", shape: [p, 3], target: "ff_mod_stack.~.b2", transposed: false),
    ]
    try apply(
      rules, from: file, into: &theta, ignoring: derivedMLPTensors.union(["input_weights_"]))
    // input_weights_ [P, 4, 30]: columns in input-group order, group j → w0__j [P, g_j, 4].
    let scalars = try tensor(file, "input_weights_", shape: [p, 4, 30]).scalars
    var first = 0
    for (group, width) in VeLO.mlpInputGroups.enumerated() {
      var values = [Float](repeating: 0, count: p * width * 4)
      for k in 0..<p {
        for i in 0..<width {
          for o in 0..<4 { values[(k * width + i) * 4 + o] = scalars[(k * 4 + o) * 30 + first + i] }
        }
      }
      theta["ff_mod_stack.~.w0__\(group)"] = Tensor(shape: [p, width, 4], scalars: values)
      first += width
    }
  }

  /// Copies every rule's tensor into θ, then rejects tensors no rule and no `ignoring` names.
  private static func apply(
    _ rules: [Rule], from file: SafetensorsFile, into theta: inout ParameterSet,
    ignoring: Set<String>
  ) throws {
    for rule in rules {
      let found = try tensor(file, rule.source, shape: rule.shape)
      theta[rule.target] = rule.transposed ? transposingLastAxes(found) : found
    }
    let known = Set(rules.map(\.source)).union(ignoring)
    let extra = file.names.filter { !known.contains($0) }
    guard extra.isEmpty else { throw CheckpointError.unexpectedTensors(extra) }
  }

  /// The float tensor `name`, checked to have `shape`.
  private static func tensor(
    _ file: SafetensorsFile, _ name: String, shape: [Int]
  ) throws -> Tensor {
    guard let stored = file[name] else { throw CheckpointError.missingTensor(name) }
    guard stored.shape == shape else {
      throw CheckpointError.shapeMismatch(tensor: name, expected: shape, found: stored.shape)
    }
    guard let tensor = try? file.floatTensor(named: name) else {
      throw CheckpointError.unsupportedDType(keyPath: name, dtype: stored.dtype.rawValue)
    }
    return tensor
  }

  /// `x` with its last two axes swapped (`[…, a, b]` → `[…, b, a]`).
  static func transposingLastAxes(_ x: Tensor) -> Tensor {
    let shape = x.shape
    let (a, b) = (shape[shape.count - 2], shape[shape.count - 1])
    let batches = x.count / max(a * b, 1)
    let source = x.scalars
    var result = [Float](repeating: 0, count: x.count)
    for n in 0..<batches {
      for i in 0..<a {
        for j in 0..<b { result[n * a * b + j * a + i] = source[n * a * b + i * b + j] }
      }
    }
    return Tensor(shape: Array(shape.dropLast(2)) + [b, a], scalars: result)
  }
}
