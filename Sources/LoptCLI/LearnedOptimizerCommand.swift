import ArgumentParser
import Foundation
import LoptCore
import LoptLearned

/// `lopt lopt`: inspect and convert learned-optimizer checkpoints.
struct LearnedOptimizerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lopt",
    abstract:
      "Inspect and convert learned-optimizer checkpoints (Lopt safetensors, flax msgpack, PyLO).",
    subcommands: [Info.self, Convert.self, ImportPyLO.self])

  /// `lopt lopt info FILE`.
  struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print a checkpoint's kind, architecture, tensor shapes and parameter count.")

    @Argument(help: "A Lopt safetensors or flax msgpack checkpoint.")
    var file: String

    func run() throws {
      let url = URL(fileURLWithPath: file)
      let checkpoint = try Checkpoint.load(url)
      let format = Checkpoint.format(of: Array(try FileContents.read(url).prefix(9)))
      print(Self.report(checkpoint, path: file, format: format), terminator: "")
    }

    /// The text `info` prints.
    static func report(_ checkpoint: Checkpoint, path: String, format: Checkpoint.Format?) -> String
    {
      let layout = checkpoint.metaParameters.layout
      let formatName: String
      switch format {
      case .safetensors: formatName = "Lopt safetensors"
      case .flaxMessagePack:
        formatName = "flax msgpack (architecture inferred from the tree; other settings default)"
      case nil: formatName = "unknown"
      }
      var lines = [
        "file: \(path)", "format: \(formatName)", "kind: \(checkpoint.kind.rawValue)",
        "architecture: \(checkpoint.configuration.json())",
      ]
      if let step = checkpoint.metaTrainingStep { lines.append("meta-training step: \(step)") }
      let nonFinite = checkpoint.metaParameters.flat.scalars.filter { !$0.isFinite }.count
      if nonFinite > 0 {
        lines.append(
          "warning: \(grouped(nonFinite)) meta-parameters are NaN or infinite; this optimizer "
            + "cannot train")
      }
      lines.append("tensors: \(layout.count)")
      let width = layout.names.map(\.count).max() ?? 0
      for entry in layout.entries {
        let name = entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
        lines.append("  \(name)  \(entry.shape)  \(grouped(entry.count))")
      }
      lines.append("parameters: \(grouped(layout.totalCount))")
      return lines.joined(separator: "\n") + "\n"
    }
  }

  /// `lopt lopt convert IN OUT`.
  struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Convert a checkpoint between flax msgpack and Lopt safetensors (atomic write).")

    /// The formats `convert` writes.
    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
      case safetensors, msgpack
    }

    @Argument(help: "The checkpoint to read (Lopt safetensors or flax msgpack).")
    var input: String

    @Argument(help: "The file to write.")
    var output: String

    @Option(help: "The output format (default: msgpack if OUT ends in .msgpack, else safetensors).")
    var format: OutputFormat?

    /// The format to write: `--format`, else from the output's extension.
    var outputFormat: Checkpoint.Format {
      switch format ?? (output.hasSuffix(".msgpack") ? .msgpack : .safetensors) {
      case .safetensors: return .safetensors
      case .msgpack: return .flaxMessagePack
      }
    }

    func run() throws {
      let checkpoint = try Checkpoint.load(URL(fileURLWithPath: input))
      try checkpoint.write(to: URL(fileURLWithPath: output), format: outputFormat)
      print(
        "wrote \(output): \(checkpoint.kind.rawValue), "
          + "\(grouped(checkpoint.metaParameters.count)) parameters, \(outputFormat.rawValue)")
    }
  }
}

/// `n` with thousands separators: `2320385` → `2,320,385`.
func grouped(_ n: Int) -> String {
  let digits = String(n.magnitude)
  var result = ""
  for (index, digit) in digits.enumerated() {
    if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
    result.append(digit)
  }
  return (n < 0 ? "-" : "") + result
}
