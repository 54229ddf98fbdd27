import ArgumentParser
import Foundation
import LoptCore
import LoptLearned
import Testing

@testable import LoptCLI
@testable import LoptTasks
@testable import LoptTraining

/// Commands run by a careless or hostile user: divergence that stays finite, unreadable
/// paths, broken configurations.
@Suite(.timeLimit(.minutes(1))) struct HostileCommandTests {
  @Test func aLossThatEndsFarAboveItsStartCountsAsDiverged() {
    let layout = ParameterLayout([("w", [1])])
    func result(_ losses: [Float]) -> TrainingResult {
      TrainingResult(parameters: ParameterSet(layout: layout), losses: losses, records: [])
    }
    #expect(result([2, 1] + Array(repeating: 0.5, count: 10)).lossGrowth == 0.25)
    #expect(result([1] + Array(repeating: 7e5, count: 20)).lossGrowth == 7e5)
    #expect(result([-1, 5]).lossGrowth == nil)
    #expect(result([]).lossGrowth == nil)
  }

  @Test func aLearnedOptimizerIsNotToldToLowerItsLearningRate() {
    let error = TrainingError.nonFiniteLoss(step: 3, loss: .nan)
    #expect(error.message(isLearned: false).contains("try a smaller learning rate"))
    #expect(!error.message(isLearned: true).contains("learning rate"))
    #expect(error.message(isLearned: true).contains("another checkpoint"))
  }

  @Test func adamAtAHugeLearningRateExitsWithADivergence() throws {
    try #require(FileManager.default.isExecutableFile(atPath: LoptBinaryTests.binary.path))
    let result = try LoptBinaryTests.run([
      "train", "--optimizer", "adam", "--lr", "1000000", "--steps", "60", "--hidden", "8",
      "--batch", "16",
    ])
    #expect(result.status == 1, "\(result.output)\n\(result.error)")
    #expect(result.error.contains("training diverged"), "\(result.error)")
    #expect(result.error.contains("try a smaller learning rate"), "\(result.error)")
  }

  @Test func infoWarnsAboutNonFiniteMetaParameters() throws {
    let configuration = ScheduledAdamLOpt.Configuration()
    var theta = ScheduledAdamLOpt.initialMetaParameters(
      for: configuration, key: RandomKey(seed: 0))
    theta.withUnsafeMutableBufferPointer { $0[0] = .nan }
    let checkpoint = try Checkpoint(
      configuration: .scheduledAdam(configuration), metaParameters: theta)
    let report = LearnedOptimizerCommand.Info.report(
      checkpoint, path: "x.safetensors", format: .safetensors)
    #expect(report.contains("warning: 1 meta-parameters are NaN or infinite"))
  }

  @Test(arguments: [
    ["meta-train", "c.yaml", "--out", ""], ["plot", "m.jsonl", "-o", " "],
    ["meta-train", "c.yaml", "--out", "r", "--outer-steps", "\(Int.max)"],
  ])
  func emptyOutputPathsAndHugeCountsAreRefused(arguments: [String]) {
    #expect(throws: (any Error).self) { _ = try LoptCommand.parseAsRoot(arguments) }
  }

  @Test func aFolderGivenAsACheckpointIsNamedClearly() throws {
    let folder = FileManager.default.temporaryDirectory.path
    let error = #expect(throws: CheckpointError.self) {
      _ = try Checkpoint.load(URL(fileURLWithPath: folder))
    }
    #expect(error?.description.contains("is a folder, not a file") == true)
    #expect(error?.description.contains("NSCocoaErrorDomain") == false)
  }

  @Test func aBrokenConfigurationNamesTheFileAndFieldWithoutATaskSpecPrefix() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-bad-config-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    for (yaml, message) in [
      ("null\n", "c.yaml: the document must be a map of settings (key: value lines), found null"),
      ("outer: {steps: many}\n", "outer.steps has the wrong type"),
      ("estimator: {pairs: 1000000000}\n", "estimator.pairs must be ≤ 4096"),
    ] {
      let config = folder.appendingPathComponent("c.yaml")
      try yaml.write(to: config, atomically: true, encoding: .utf8)
      let command = try LoptCommand.parseAsRoot([
        "meta-train", config.path, "--out", folder.appendingPathComponent("run").path,
      ])
      do {
        try (command as? MetaTrain)?.run()
        Issue.record("\(yaml) was accepted")
      } catch {
        let text = LoptCommand.message(for: error)
        #expect(text.contains(message) && !text.contains("task spec:"), "\(text)")
      }
    }
  }
}
