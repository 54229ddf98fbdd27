import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptTasks
import LoptTraining

extension TaskFamily: ExpressibleByArgument {}

/// `lopt tasks`: the task families, named tasks and distributions, and the cost model.
struct TasksCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tasks",
    abstract: "List, sample and time training tasks.",
    subcommands: [TasksList.self, TasksSample.self, TasksCalibrate.self])
}

/// Options shared by the subcommands that predict step times.
struct CostModelOptions: ParsableArguments {
  @Option(help: "A cost-model calibration JSON file (from lopt tasks calibrate).")
  var calibration: String?

  @Option(help: "Look for data files here first (also: the LOPT_DATA_DIR environment variable).")
  var dataDir: String?

  func validate() throws {
    try FlagChecks.checkDirectory(dataDir, flag: "--data-dir")
  }

  /// The calibration from `--calibration`, or the shipped one.
  func costModel() throws -> CostModel {
    guard let calibration else { return .default }
    return try CostModel(json: FileContents.read(URL(fileURLWithPath: calibration)))
  }
}

/// `lopt tasks list`.
struct TasksList: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List the task families, named tasks and distributions.")

  func run() throws {
    print("Families: " + TaskFamily.allCases.map(\.rawValue).joined(separator: ", "))
    print("Named tasks:")
    for (name, spec) in TaskSpec.named.sorted(by: { $0.key < $1.key }) {
      let cost = try spec.cost()
      let seconds = CostModel.default.seconds(for: cost)
      print(
        "  \(name.padding(toLength: 20, withPad: " ", startingAt: 0)) "
          + "\(Int(cost.parameters)) parameters, ~\(formatSeconds(seconds)) per step")
    }
    print("Distributions:")
    for (name, distribution) in TaskDistribution.builtIn.sorted(by: { $0.key < $1.key }) {
      let budgets = distribution.budgets.map { formatSeconds($0.seconds) }
      print("  \(name): budgets \(budgets.joined(separator: ", ")) per step")
    }
  }
}

/// `lopt tasks sample`.
struct TasksSample: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Sample task specs from a family or a distribution and print them as JSON lines.",
    discussion: """
      Each line is {"spec": …, "predictedSeconds": …} and, with --measure, "measuredSeconds" \
      (the median of 20 timed steps with Adam). --distribution takes a built-in name \
      (phase-one, phase-two) or a JSON file.
      """)

  @Option(
    help:
      "Sample this family (one of: \(TaskFamily.allCases.map(\.rawValue).joined(separator: ", ")))."
  )
  var family: TaskFamily?

  @Option(help: "Sample this distribution: a built-in name or a JSON file.")
  var distribution: String?

  @Option(help: "The random seed.")
  var seed: UInt64 = 0

  @Option(help: "How many specs.")
  var count: Int = 1

  @Option(help: "With --family: reject samples predicted slower than this many seconds per step.")
  var budget: Double?

  @Flag(help: "With --family: add VeLO's sampled augmentations.")
  var augment = false

  @Flag(help: "Build each task and measure its step time.")
  var measure = false

  @OptionGroup var costOptions: CostModelOptions

  func validate() throws {
    guard (family == nil) != (distribution == nil) else {
      throw ValidationError("give exactly one of --family and --distribution")
    }
    try FlagChecks.check(count, in: 1...100_000, flag: "--count")
    if let budget, !(budget > 0) {
      throw ValidationError("--budget must be a positive number of seconds, got \(budget)")
    }
  }

  func run() throws {
    BLAS.useSingleThread()
    let model = try costOptions.costModel()
    let mixture = try distribution.map(Self.loadDistribution)
    let locator = DataLocator(directory: costOptions.dataDir)
    for index in 0..<count {
      let key = RandomKey(seed: seed).folding(in: UInt64(index))
      var spec: TaskSpec
      if let mixture {
        spec = try mixture.sample(key: key, costModel: model)
      } else if let budget {
        spec = try family!.sample(key: key, budget: budget, costModel: model, augments: augment)
      } else {
        spec = family!.sample(key: key)
        if augment { spec.augmentation = AugmentationSpec.sample(key: key.folding(in: 1)) }
      }
      var line = "{\"spec\": \(String(decoding: try spec.json(), as: UTF8.self))"
      line += ", \"predictedSeconds\": \(model.seconds(for: try spec.cost()))"
      if measure {
        line += ", \"measuredSeconds\": \(try spec.measureStepSeconds(locator: locator))"
      }
      print(line + "}")
    }
  }

  static func loadDistribution(_ name: String) throws -> TaskDistribution {
    if let builtIn = TaskDistribution.builtIn[name] { return builtIn }
    guard FileManager.default.fileExists(atPath: name) else {
      throw ValidationError(
        "unknown distribution '\(name)': not a built-in ("
          + TaskDistribution.builtIn.keys.sorted().joined(separator: ", ") + ") nor a file")
    }
    return try TaskDistribution(json: FileContents.read(URL(fileURLWithPath: name)))
  }
}

/// `lopt tasks calibrate`.
struct TasksCalibrate: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "calibrate",
    abstract: "Fit the cost model to measured step times on this machine.",
    discussion: """
      Samples --count specs round-robin over the families (each predicted under --limit \
      seconds per step by the current calibration), measures each, fits the cost model and \
      writes it to --output. With --check, only compares the current calibration with the \
      measurements. Prints the predicted and measured times of every spec. Use a release build.
      """)

  @Option(help: "How many specs to time.")
  var count: Int = 50

  @Option(help: "The random seed.")
  var seed: UInt64 = 0

  @Option(help: "Skip samples predicted slower than this many seconds per step.")
  var limit: Double = 0.05

  @Option(help: "Write the calibration here.")
  var output: String = "calibration.json"

  @Flag(help: "Compare the current calibration with the measurements; write nothing.")
  var check = false

  @OptionGroup var costOptions: CostModelOptions

  func validate() throws {
    guard count > 1 else { throw ValidationError("--count must be at least 2, got \(count)") }
  }

  func run() throws {
    BLAS.useSingleThread()
    let current = try costOptions.costModel()
    let locator = DataLocator(directory: costOptions.dataDir)
    var specs: [TaskSpec] = []
    var costs: [TaskCost] = []
    var seconds: [Double] = []
    for index in 0..<count {
      let family = TaskFamily.allCases[index % TaskFamily.allCases.count]
      let key = RandomKey(seed: seed).folding(in: UInt64(index))
      let spec = try family.sample(key: key, budget: limit, costModel: current)
      specs.append(spec)
      costs.append(try spec.cost())
      seconds.append(try spec.measureStepSeconds(locator: locator))
    }
    let model = check ? current : CostModel.fit(costs: costs, seconds: seconds)
    print("| # | family | parameters | MFLOP | predicted ms | measured ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    var within = 0
    for index in specs.indices {
      let predicted = model.seconds(for: costs[index])
      let ratio = predicted / seconds[index]
      if ratio <= 2 && ratio >= 0.5 { within += 1 }
      print(
        "| \(index) | \(specs[index].family.rawValue) | \(Int(costs[index].parameters)) | "
          + String(
            format: "%.2f | %.3f | %.3f | %.2f |", costs[index].flops / 1e6,
            predicted * 1e3, seconds[index] * 1e3, ratio))
    }
    print("\(within) of \(specs.count) predictions within a factor 2")
    guard !check else { return }
    try model.json().write(to: URL(fileURLWithPath: output), options: .atomic)
    print("wrote \(output)")
  }
}

/// Seconds in a short human form (µs, ms or s).
func formatSeconds(_ seconds: Double) -> String {
  if seconds < 1e-3 { return String(format: "%.0f µs", seconds * 1e6) }
  if seconds < 1 { return String(format: "%.1f ms", seconds * 1e3) }
  return String(format: "%.2f s", seconds)
}
