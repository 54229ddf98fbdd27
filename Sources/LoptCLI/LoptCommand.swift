import ArgumentParser

/// The `lopt` command: train with, meta-train and evaluate learned optimizers.
public struct LoptCommand: ParsableCommand {
  /// Describes the command tree for `--help`.
  public static let configuration = CommandConfiguration(
    commandName: "lopt",
    abstract: "Learned optimizers: train with them, meta-train them, evaluate them.",
    subcommands: [
      Train.self, Tune.self, MetaTrain.self, Eval.self, Plot.self, TasksCommand.self,
      LearnedOptimizerCommand.self, Demo.self, Bench.self,
    ]
  )

  /// Creates the command (argument-parser fills in the options).
  public init() {}
}
