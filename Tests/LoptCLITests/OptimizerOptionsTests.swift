import ArgumentParser
import Foundation
import LoptCore
import LoptLearned
import LoptOptimizers
import Testing

@testable import LoptCLI

@Suite struct OptimizerOptionsTests {
  @Test(arguments: OptimizerName.allCases)
  func everyOptimizerHasADefaultLearningRateAndTakesAStep(name: OptimizerName) throws {
    let train = try #require(
      try LoptCommand.parseAsRoot(["train", "--optimizer", name.rawValue]) as? Train)
    #expect(train.optimizer.learningRate == name.defaultLearningRate)
    let layout = ParameterLayout([("w", [3, 2]), ("b", [2])])
    let parameters = ParameterSet(layout: layout, repeating: 1)
    let moved = try Self.step(train.optimizer.makeOptimizer(), parameters)
    #expect(moved != parameters && moved.isFinite)
  }

  static func step(_ optimizer: some Optimizer, _ start: ParameterSet) -> ParameterSet {
    var parameters = start
    var state = optimizer.makeState(for: parameters, totalSteps: 1)
    let gradients = ParameterSet(layout: start.layout, repeating: 0.5)
    optimizer.update(&parameters, gradients: gradients, loss: 1, state: &state)
    return parameters
  }

  @Test func parsesScheduleWarmUpAndClipping() throws {
    let train = try #require(
      try LoptCommand.parseAsRoot([
        "train", "--optimizer", "nadamw", "--lr", "0.003", "--schedule", "cosine", "--warmup",
        "10", "--clip-norm", "1.5",
      ]) as? Train)
    #expect(
      train.optimizer.optimizer == .handDesigned(.nadamw) && train.optimizer.learningRate == 0.003)
    #expect(train.optimizer.schedule == .cosine && train.optimizer.warmup == 10)
    #expect(train.optimizer.clipNorm == 1.5)
    #expect(train.optimizer.summary == "nadamw schedule=cosine warmup=10 clip-norm=1.5 lr=0.003")
  }

  @Test func learnedIsTheShippedOptimizer() throws {
    let train = try #require(
      try LoptCommand.parseAsRoot(["train", "--optimizer", "learned"]) as? Train)
    #expect(train.optimizer.isLearned)
    #expect(try train.optimizer.makeOptimizer() is ScheduledAdamLOpt)
    #expect(train.optimizer.summary == "the shipped learned optimizer")
  }

  @Test(arguments: [
    (
      ["--optimizer", "adagrad"],
      "- sgd\n  - momentum\n  - rmsprop\n  - adam\n  - adamw\n  - nadamw\n  - adafactor\n  - shampoo\n  - lion"
    ),
    (["--lr", "nan"], "--lr must be a positive number, got nan"),
    (["--lr=-0.1"], "--lr must be a positive number, got -0.1"),
    (["--warmup=-2"], "--warmup must be ≥ 0"),
    (["--clip-norm", "0"], "--clip-norm must be a positive number"),
    (["--schedule", "step"], "'constant', 'cosine', 'linear' or 'inverse-sqrt'"),
    (["--optimizer", "learned", "--checkpoint", "x"], "drop --checkpoint"),
    (["--optimizer", "learned", "--lr", "0.1"], "drop --lr"),
    (["--optimizer", "learned", "--schedule", "cosine"], "drop --lr, --schedule"),
  ])
  func rejectsBadOptimizerOptionsWithAClearMessage(arguments: [String], message: String) {
    do {
      _ = try LoptCommand.parseAsRoot(["train"] + arguments)
      Issue.record("\(arguments) was accepted")
    } catch {
      let text = LoptCommand.message(for: error)
      #expect(text.contains(message), "\(text)")
    }
  }
}
