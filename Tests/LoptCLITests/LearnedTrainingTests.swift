import ArgumentParser
import Foundation
import LoptCore
import LoptLearned
import LoptMeta
import Testing

@testable import LoptCLI

@Suite struct LearnedTrainingTests {
  /// The small VeLO fixture committed with the LoptLearned tests (random meta-parameters).
  static let checkpoint = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("LoptLearnedTests/Resources/velo/h16_p8/meta_params.msgpack").path

  /// `lopt demo` meta-trains from the shipped checkpoint with its default `--config`, so that
  /// configuration must describe the shipped architecture.
  @Test func theDemoConfigurationDescribesTheShippedOptimizer() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    let demo = try #require(try LoptCommand.parseAsRoot(["demo"]) as? Demo)
    let text = try String(contentsOf: root.appendingPathComponent(demo.config), encoding: .utf8)
    let configuration = try MetaTrainingConfiguration(yaml: text)
    let shipped = try Checkpoint.load(try ShippedLearnedOptimizer.location())
    #expect(configuration.learnedOptimizer.configuration == shipped.configuration)
  }

  @Test func aCheckpointMakesTheLearnedOptimizer() throws {
    let command = try LoptCommand.parseAsRoot(["train", "--checkpoint", Self.checkpoint])
    let train = try #require(command as? Train)
    let optimizer = try train.optimizer.makeOptimizer()
    let velo = try #require(optimizer as? VeLO)
    #expect(velo.configuration.lstmHiddenSize == 16)
    #expect(train.optimizer.summary.contains("learned optimizer"))
  }

  @Test func theKindCanBeNamedAndMustMatchTheFile() throws {
    let command = try LoptCommand.parseAsRoot([
      "train", "--optimizer", "velo", "--checkpoint", Self.checkpoint,
    ])
    let train = try #require(command as? Train)
    #expect(try train.optimizer.makeOptimizer() is VeLO)
    let mismatch = try LoptCommand.parseAsRoot([
      "train", "--optimizer", "adafac-mlp", "--checkpoint", Self.checkpoint,
    ])
    let error = #expect(throws: (any Error).self) {
      _ = try (mismatch as? Train)?.optimizer.makeOptimizer()
    }
    #expect("\(String(describing: error))".contains("holds a velo checkpoint"))
    #expect(throws: (any Error).self) {
      _ = try LoptCommand.parseAsRoot(["train", "--optimizer", "velo"])
    }
    #expect(throws: (any Error).self) {
      _ = try LoptCommand.parseAsRoot([
        "train", "--optimizer", "adam", "--checkpoint", Self.checkpoint,
      ])
    }
  }

  @Test func learningRateOptionsDoNotMixWithACheckpoint() {
    #expect(throws: (any Error).self) {
      _ = try LoptCommand.parseAsRoot(["train", "--checkpoint", Self.checkpoint, "--lr", "0.1"])
    }
  }

  @Test func aLearnedOptimizerHasNoLearningRateToSweep() throws {
    let command = try LoptCommand.parseAsRoot(["train", "--checkpoint", Self.checkpoint])
    let train = try #require(command as? Train)
    #expect(throws: (any Error).self) { _ = try train.optimizer.makeOptimizer(learningRate: 0.1) }
  }

  @Test func aMissingCheckpointIsAClearError() throws {
    let command = try LoptCommand.parseAsRoot(["train", "--checkpoint", "/nonexistent.msgpack"])
    let train = try #require(command as? Train)
    let error = #expect(throws: (any Error).self) { _ = try train.optimizer.makeOptimizer() }
    #expect("\(String(describing: error))".contains("/nonexistent.msgpack"))
  }
}
