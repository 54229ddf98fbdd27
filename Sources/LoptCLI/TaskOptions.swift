import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptTasks

extension ImageDatasetName: ExpressibleByArgument {}

/// The options that choose what `lopt train` trains: model, data and batch size.
struct TaskOptions: ParsableArguments {
  @Option(help: "The image data set (mnist, fashion and cifar10 need --data-dir or LOPT_DATA_DIR).")
  var data: ImageDatasetName = .digits

  @Option(help: "Hidden-layer widths, comma separated (empty for a linear classifier).")
  var hidden: String = "32,32"

  @Option(help: "Examples per step.")
  var batch: Int = 128

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
  }

  /// Loads the data and builds the task; `key` fixes the order of the batches.
  func makeTask(key: RandomKey) throws -> PreparedTask {
    let locator = DataLocator(directory: dataDir)
    var splits: [DatasetSplit: ImageDataset] = [:]
    for split in DatasetSplit.allCases {
      splits[split] = try ImageDataset.load(data, split: split, locator: locator)
    }
    let smallest = splits.values.map(\.count).min() ?? 0
    guard batch <= smallest else {
      throw ValidationError(
        "--batch \(batch) is larger than the smallest split of \(data.rawValue) "
          + "(\(smallest) examples)")
    }
    let widths = try hiddenWidths
    let train = splits[.train]!
    let task = try MLPClassifier(splits: splits, hiddenWidths: widths, batchSize: batch, key: key)
    let shape = ([train.imageShape.reduce(1, *)] + widths + [train.classCount])
      .map(String.init).joined(separator: "-")
    return PreparedTask(
      task: task, summary: "MLP \(shape) on \(data.rawValue), batch \(batch)",
      validationBatches: max(1, min(10, splits[.valid]!.count / batch)),
      testBatches: max(1, splits[.test]!.count / batch))
  }
}

/// A task ready to train, with what the command prints and evaluates about it.
struct PreparedTask {
  /// The task.
  var task: any TrainingTask
  /// One line naming model, data and batch size.
  var summary: String
  /// Validation batches per logged record.
  var validationBatches: Int
  /// Test batches for the final evaluation.
  var testBatches: Int
}
