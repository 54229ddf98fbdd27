import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptTasks

extension ImageDatasetName: ExpressibleByArgument {}

/// The options that choose what `lopt train` trains: by default an MLP on an image data set
/// (`--data`, `--hidden`, `--batch`); or a named task (`--task`) or a spec file (`--spec`).
struct TaskOptions: ParsableArguments {
  @Option(help: "The image data set (mnist, fashion and cifar10 need --data-dir or LOPT_DATA_DIR).")
  var data: ImageDatasetName = .digits

  @Option(help: "Hidden-layer widths, comma separated (empty for a linear classifier).")
  var hidden: String = "32,32"

  @Option(help: "Examples per step.")
  var batch: Int = 128

  @Option(help: "A named task instead of the MLP (see lopt tasks list), e.g. conv-mnist16.")
  var task: String?

  @Option(help: "A task spec JSON file instead of the MLP (see lopt tasks sample).")
  var spec: String?

  @Option(help: "Look for data files here first (also: the LOPT_DATA_DIR environment variable).")
  var dataDir: String?

  var hiddenWidths: [Int] {
    get throws {
      let parts = hidden.split(separator: ",", omittingEmptySubsequences: true)
      guard parts.count <= 64 else {
        throw ValidationError("--hidden takes at most 64 widths, got \(parts.count)")
      }
      return try parts.map { part in
        guard let width = Int(part.trimmingCharacters(in: .whitespaces)),
          (1...16_384).contains(width)
        else {
          throw ValidationError(
            "--hidden takes widths in 1...16384 separated by commas, got '\(hidden)'")
        }
        return width
      }
    }
  }

  func validate() throws {
    try FlagChecks.check(batch, in: 1...4096, flag: "--batch")
    try checkMemory()
    try FlagChecks.checkDirectory(dataDir, flag: "--data-dir")
    guard task == nil || spec == nil else {
      throw ValidationError("give --task or --spec, not both")
    }
    if let task, TaskSpec.named[task] == nil {
      throw ValidationError(
        "unknown task '\(task)'; the named tasks are "
          + TaskSpec.named.keys.sorted().joined(separator: ", "))
    }
  }

  /// Throws if the default MLP of `--hidden` and `--batch` would need more memory than a task
  /// may use (the same estimate as for task specs).
  private func checkMemory() throws {
    let widths =
      [data.imageShape.reduce(1, *)] + (try hiddenWidths) + [data.classCount]
    var cost = TaskCost()
    cost.parameters = zip(widths, widths.dropFirst()).reduce(0) {
      $0 + Double(($1.0 + 1) * $1.1)
    }
    cost.activations = Double(batch) * Double(widths.reduce(0, +))
    let bytes = TaskSpec.estimatedBytes(of: cost)
    guard bytes <= Double(TaskSpec.maximumBytes) else {
      throw ValidationError(
        "--hidden \(hidden) with --batch \(batch) needs about "
          + String(format: "%.0f MiB", bytes / 1_048_576) + ", more than the "
          + "\(TaskSpec.maximumBytes >> 20) MiB a task may use; choose smaller widths")
    }
  }

  /// The spec chosen by `--task` or `--spec`, or `nil` for the default MLP.
  func chosenSpec() throws -> TaskSpec? {
    if let task { return try TaskSpec(named: task) }
    guard let spec else { return nil }
    let url = URL(fileURLWithPath: spec)
    return try TaskSpec(json: FileContents.read(url))
  }

  /// Loads the data and builds the task; `key` fixes the order of the batches of the default
  /// MLP (a spec's own seed fixes its batches).
  func makeTask(key: RandomKey) throws -> PreparedTask {
    let locator = DataLocator(directory: dataDir)
    if let spec = try chosenSpec() {
      let task = try spec.makeTask(locator: locator)
      return PreparedTask(
        task: task,
        summary: "\(self.task ?? spec.family.rawValue) (\(spec.family.rawValue) on "
          + "\(spec.data.dataset)), batch \(spec.batchSize)",
        validationBatches: 5, testBatches: 10)
    }
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
