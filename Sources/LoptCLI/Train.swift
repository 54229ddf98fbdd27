import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks
import LoptTraining

/// `lopt train`: trains a task with an optimizer and reports the loss curve.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a task (an MLP by default, or --task/--spec) with an optimizer.",
    discussion: """
      Shows a progress line (step, loss, steps/s, ETA) on a terminal, then a summary of the \
      loss curve and the final validation and test losses. With --metrics, writes one JSON \
      object per logged step.
      """)

  @OptionGroup(title: "Task")
  var task: TaskOptions

  @OptionGroup(title: "Optimizer")
  var optimizer: OptimizerOptions

  @Option(help: "Training steps.")
  var steps: Int = 1000

  @Option(help: "Random seed: fixes the initial parameters and the order of the batches.")
  var seed: UInt64 = 0

  @Option(help: "Log a record every this many steps.")
  var logEvery: Int = 100

  @Option(help: "Write one JSON object per logged step to this file.")
  var metrics: String?

  func validate() throws {
    try FlagChecks.check(steps, in: 1...maximumTrainingSteps, flag: "--steps")
    guard logEvery > 0 else {
      throw ValidationError("--log-every must be positive, got \(logEvery)")
    }
  }

  func run() throws {
    BLAS.useSingleThread()
    let key = RandomKey(seed: seed)
    let prepared = try task.makeTask(key: key.folding(in: 1))
    let optimizer = try self.optimizer.makeOptimizer()
    print(
      "Training \(prepared.summary) (\(prepared.task.layout.totalCount) parameters) with "
        + "\(self.optimizer.summary), \(steps) steps")
    try run(prepared, optimizer: optimizer, key: key)
  }

  private func run(
    _ prepared: PreparedTask, optimizer: some Optimizer, key: RandomKey
  ) throws {
    let writer = try metrics.map(MetricsWriter.init(path:))
    var progress = ProgressLine(total: steps, label: "step")
    let start = Date()
    let outcome = Result {
      try train(
        prepared.task, optimizer: optimizer, steps: steps, key: key, logInterval: logEvery,
        validationBatches: prepared.validationBatches
      ) { record in
        progress.update(step: record.step + 1, loss: record.loss)
        try? writer?.write(MetricsRecord(record, seconds: Date().timeIntervalSince(start)))
      }
    }
    progress.finish()
    try writer?.finish()
    let result: TrainingResult
    do {
      result = try outcome.get()
    } catch let error as TrainingError {
      throw CLIError.trainingFailed(error.message(isLearned: self.optimizer.isLearned))
    }
    if let growth = result.lossGrowth, growth > TrainingResult.divergenceFactor {
      throw CLIError.trainingFailed(
        "training diverged: the loss ended \(formatted(growth))× its initial "
          + "\(formatted(result.losses[0])) (over \(Int(TrainingResult.divergenceFactor))×); "
          + TrainingError.hint(isLearned: self.optimizer.isLearned))
    }
    let elapsed = Date().timeIntervalSince(start)
    print(LossCurveSummary(records: result.records).text)
    let test = prepared.task.evaluation(
      result.parameters, split: .test, batches: prepared.testBatches)
    let rate = String(format: "%.0f", Double(steps) / elapsed)
    print(
      "final: train loss \(formatted(result.losses.last ?? .nan)), "
        + "valid loss \(formatted(result.records.last?.validationLoss ?? .nan)), "
        + "test loss \(formatted(test.loss)); \(String(format: "%.1f", elapsed)) s, \(rate) steps/s"
    )
    if let testAccuracy = test.accuracy {
      // Training accuracy in evaluation mode over as many training batches as validation uses.
      let train = prepared.task.evaluation(
        result.parameters, split: .train, batches: prepared.validationBatches)
      let valid = result.records.last?.validationAccuracy
      print(
        "accuracy: train \(percent(train.accuracy)), valid \(percent(valid)), "
          + "test \(percent(testAccuracy))")
    }
  }

  private func percent(_ fraction: Float?) -> String {
    fraction.map { String(format: "%.1f %%", 100 * $0) } ?? "-"
  }
}

/// One line of `--metrics` output.
struct MetricsRecord: Encodable {
  var step: Int
  var loss: Float
  var validLoss: Float?
  var validAccuracy: Float?
  var seconds: Double

  init(_ record: TrainingRecord, seconds: Double) {
    step = record.step
    loss = record.loss
    validLoss = record.validationLoss
    validAccuracy = record.validationAccuracy
    self.seconds = seconds
  }

  enum CodingKeys: String, CodingKey {
    case step, loss, seconds
    case validLoss = "valid_loss"
    case validAccuracy = "valid_accuracy"
  }
}
