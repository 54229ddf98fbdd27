import ArgumentParser
import Foundation
import LoptCore
import LoptLearned

extension LearnedOptimizerCommand {
  /// `lopt lopt import-pylo RNN MLP OUT`.
  struct ImportPyLO: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "import-pylo",
      abstract: "Convert VeLO's weights in PyLO's Hugging Face layout to a Lopt checkpoint.",
      discussion: """
        PyLO publishes VeLO as two PyTorch modules, Pauljanson002/VeLO_RNN and \
        Pauljanson002/VeLO_MLP on the Hugging Face Hub (huggingface-cli download … gives a \
        folder with model.safetensors). The name and shape mapping comes from PyLO's model \
        code; it was checked on files made from the reference fixture, not on the published \
        files (see the README). Write OUT as .safetensors or .msgpack (flax, as released).
        """)

    @Argument(help: "PyLO's VeLO_RNN model.safetensors, or the folder holding it.")
    var rnn: String

    @Argument(help: "PyLO's VeLO_MLP model.safetensors, or the folder holding it.")
    var mlp: String

    @Argument(help: "The checkpoint to write.")
    var output: String

    func run() throws {
      let checkpoint = try PyLOVeLO.load(
        rnn: URL(fileURLWithPath: rnn), mlp: URL(fileURLWithPath: mlp))
      let format: Checkpoint.Format = output.hasSuffix(".msgpack") ? .flaxMessagePack : .safetensors
      try checkpoint.write(to: URL(fileURLWithPath: output), format: format)
      print(
        "wrote \(output): velo, \(grouped(checkpoint.metaParameters.count)) parameters, "
          + "\(format.rawValue)")
    }
  }
}
