import ArgumentParser
import LoptOptimizers

/// The options that choose how `lopt train` updates the parameters.
struct OptimizerOptions: ParsableArguments {
  @Option(help: "Adam's learning rate.")
  var lr: Float = 1e-3

  func validate() throws {
    guard lr.isFinite, lr > 0 else {
      throw ValidationError("--lr must be a positive number, got \(lr)")
    }
  }

  /// The configured optimizer.
  func makeOptimizer() throws -> any Optimizer { Adam(learningRate: lr) }

  /// One line naming the optimizer and its settings.
  var summary: String { "Adam, lr \(lr)" }
}
