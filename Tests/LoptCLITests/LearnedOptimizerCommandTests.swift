import ArgumentParser
import Foundation
import LoptCore
import LoptLearned
import Testing

@testable import LoptCLI

@Suite struct LearnedOptimizerCommandTests {
  /// A fresh temporary directory, removed by the caller.
  static func directory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("lopt-lopt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func parsesInfoAndConvert() throws {
    let info = try #require(
      try LearnedOptimizerCommand.parseAsRoot(["info", "a.msgpack"])
        as? LearnedOptimizerCommand.Info)
    #expect(info.file == "a.msgpack")
    let convert = try #require(
      try LearnedOptimizerCommand.parseAsRoot(["convert", "a.msgpack", "b.st"])
        as? LearnedOptimizerCommand.Convert)
    #expect(convert.outputFormat == .safetensors)
    let back = try #require(
      try LearnedOptimizerCommand.parseAsRoot(["convert", "b.st", "c.msgpack"])
        as? LearnedOptimizerCommand.Convert)
    #expect(back.outputFormat == .flaxMessagePack)
    let forced = try #require(
      try LearnedOptimizerCommand.parseAsRoot(["convert", "b", "c", "--format", "msgpack"])
        as? LearnedOptimizerCommand.Convert)
    #expect(forced.outputFormat == .flaxMessagePack)
    #expect(throws: (any Error).self) {
      _ = try LearnedOptimizerCommand.parseAsRoot(["convert", "b", "c", "--format", "zip"])
    }
  }

  @Test func infoReportsTheReleasedVeLOSizes() throws {
    let configuration = LearnedOptimizerConfiguration.velo(VeLO.Configuration())
    let checkpoint = try Checkpoint(
      configuration: configuration,
      metaParameters: ParameterSet(layout: configuration.metaParameterLayout),
      metaTrainingStep: 5620)
    let text = LearnedOptimizerCommand.Info.report(
      checkpoint, path: "velo.msgpack", format: .flaxMessagePack)
    #expect(text.contains("kind: velo\n"))
    #expect(text.contains("\"lstmHiddenSize\":512") && text.contains("\"paramInits\":256"))
    #expect(text.contains("meta-training step: 5620\n"))
    #expect(text.contains("tensors: 33\n"))
    #expect(text.contains("rnn_params.rnn/linear.w") && text.contains("[1024, 2048]  2,097,152"))
    #expect(text.hasSuffix("parameters: 2,320,385\n"), "\(text)")
  }

  @Test func convertsMsgpackToSafetensorsAndBackAtomically() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let configuration = LearnedOptimizerConfiguration.adafacMLP(AdafacMLP.Configuration())
    let original = try Checkpoint(
      configuration: configuration,
      metaParameters: AdafacMLP.initialMetaParameters(
        for: AdafacMLP.Configuration(), key: RandomKey(seed: 5)),
      metaTrainingStep: 7)
    let msgpack = directory.appendingPathComponent("theta.msgpack")
    try original.write(to: msgpack, format: .flaxMessagePack)
    let safetensors = directory.appendingPathComponent("theta.safetensors")
    let back = directory.appendingPathComponent("back.msgpack")
    for arguments in [
      ["convert", msgpack.path, safetensors.path], ["convert", safetensors.path, back.path],
    ] {
      var command = try LearnedOptimizerCommand.parseAsRoot(arguments)
      try command.run()
    }
    #expect(try Checkpoint.load(safetensors) == original)
    #expect(try Checkpoint.load(back) == original)
    #expect(try Data(contentsOf: back) == Data(original.encoded(as: .flaxMessagePack)))
    let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    #expect(entries == ["back.msgpack", "theta.msgpack", "theta.safetensors"])
  }

  @Test func convertReportsABadInputNamingTheFile() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let bad = directory.appendingPathComponent("bad.msgpack")
    try Data([0x81, 0xa6, 0x70, 0x61, 0x72, 0x61, 0x6d, 0x73, 0x92]).write(to: bad)
    var command = try LearnedOptimizerCommand.parseAsRoot([
      "convert", bad.path, directory.appendingPathComponent("out.safetensors").path,
    ])
    do {
      try command.run()
      Issue.record("a truncated checkpoint converted")
    } catch {
      let message = LearnedOptimizerCommand.message(for: error)
      #expect(message.contains(bad.path) && message.contains("'params'"), "\(message)")
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["bad.msgpack"])
  }
}
