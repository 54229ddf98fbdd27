import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptNN
import LoptOptimizers
import LoptTasks

extension ImageDatasetName: ExpressibleByArgument {}

/// `lopt train`: trains an MLP classifier on an image data set with Adam.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train an MLP image classifier with Adam.",
    discussion: """
      Shows a progress line (step, loss, steps/s, ETA) on a terminal, then a summary of the \
      loss curve and the final validation and test losses. With --metrics, writes one JSON \
      object per logged step.
      """)

  @Option(help: "The image data set (mnist, fashion and cifar10 need --data-dir or LOPT_DATA_DIR).")
  var data: ImageDatasetName = .digits

  @Option(help: "Hidden-layer widths, comma separated (empty for a linear classifier).")
  var hidden: String = "32,32"

  @Option(help: "Examples per step.")
  var batch: Int = 128

  @Option(help: "Training steps.")
  var steps: Int = 1000

  @Option(help: "Adam's learning rate.")
  var lr: Float = 1e-3

  @Option(help: "Random seed: fixes the initial parameters and the order of the batches.")
  var seed: UInt64 = 0

  @Option(help: "Log a record every this many steps.")
  var logEvery: Int = 100

  @Option(help: "Write one JSON object per logged step to this file.")
  var metrics: String?

  @Option(help: "Look for data files here first (also: the LOPT_DATA_DIR environment variable).")
  var dataDir: String?

  var hiddenWidths: [Int] {
    get throws {
      let parts = hidden.split(separator: ",", omittingEmptySubsequences: true)
      return try parts.map { part in
        guard let width = Int(part.trimmingCharacters(in: .whitespaces)), width > 0 else {
          throw ValidationError(
            "--hidden takes positive integers separated by commas, got '\(hidden)'")
        }
        return width
      }
    }
  }

  func validate() throws {
    _ = try hiddenWidths
    guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
    guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
    guard lr.isFinite, lr > 0 else {
      throw ValidationError("--lr must be a positive number, got \(lr)")
    }
    guard logEvery > 0 else {
      throw ValidationError("--log-every must be positive, got \(logEvery)")
    }
  }

  func run() throws {
    BLAS.useSingleThread()
    let locator = DataLocator(directory: dataDir)
    var splits: [DatasetSplit: ImageDataset] = [:]
    for split in DatasetSplit.allCases {
      splits[split] = try ImageDataset.load(data, split: split, locator: locator)
    }
    let smallest = splits.values.map(\.count).min() ?? 0
    guard batch <= smallest else {
      throw ValidationError(
        "--batch \(batch) is larger than the smallest split of \(data.rawValue) (\(smallest) examples)"
      )
    }
    let key = RandomKey(seed: seed)
    let widths = try hiddenWidths
    let task = MLPClassifier(
      splits: splits, hiddenWidths: widths, batchSize: batch, key: key.folding(in: 1))
    let shape = ([splits[.train]!.imageShape.reduce(1, *)] + widths + [splits[.train]!.classCount])
      .map(String.init).joined(separator: "-")
    print(
      "Training MLP \(shape) on \(data.rawValue) (\(task.layout.totalCount) parameters) "
        + "with Adam, lr \(lr), batch \(batch), \(steps) steps")

    let writer = try metrics.map(MetricsWriter.init(path:))
    var progress = ProgressLine(total: steps, label: "step")
    let start = Date()
    let validationBatches = max(1, min(10, splits[.valid]!.count / batch))
    let result: TrainingResult
    do {
      result = try train(
        task, optimizer: Adam(learningRate: lr), steps: steps, key: key,
        logInterval: logEvery, validationBatches: validationBatches
      ) { record in
        progress.update(step: record.step + 1, loss: record.loss)
        try? writer?.write(MetricsRecord(record, seconds: Date().timeIntervalSince(start)))
      }
    } catch {
      progress.finish()
      try writer?.finish()
      throw error
    }
    progress.finish()
    try writer?.finish()
    let elapsed = Date().timeIntervalSince(start)
    print(LossCurveSummary(records: result.records).text)
    let testBatches = max(1, splits[.test]!.count / batch)
    let testLoss = task.evaluate(result.parameters, split: .test, batches: testBatches)
    print(
      "final: train loss \(formatted(result.losses.last ?? .nan)), "
        + "valid loss \(formatted(result.records.last?.validationLoss ?? .nan)), "
        + "test loss \(formatted(testLoss)); "
        + "\(String(format: "%.1f", elapsed)) s, \(String(format: "%.0f", Double(steps) / elapsed)) steps/s"
    )
  }
}

/// One line of `--metrics` output.
struct MetricsRecord: Encodable {
  var step: Int
  var loss: Float
  var validLoss: Float?
  var seconds: Double

  init(_ record: TrainingRecord, seconds: Double) {
    step = record.step
    loss = record.loss
    validLoss = record.validationLoss
    self.seconds = seconds
  }

  enum CodingKeys: String, CodingKey {
    case step, loss, seconds
    case validLoss = "valid_loss"
  }
}
