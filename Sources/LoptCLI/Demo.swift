import ArgumentParser

/// `lopt demo`: a first look at Lopt on the shipped data, in a few seconds.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a small MLP on the shipped digits data with Adam and show the loss curve.")

  func run() throws {
    let train = try Train.parse([
      "--data", "digits", "--hidden", "32", "--batch", "64",
      "--steps", "2000", "--lr", "3e-3", "--log-every", "200",
    ])
    try train.validate()
    try train.run()
  }
}
