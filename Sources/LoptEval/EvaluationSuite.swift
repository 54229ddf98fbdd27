import Foundation
import LoptCore
import LoptTasks
import LoptTraining

/// Why an evaluation suite cannot be found or read, naming the suite and the entry at fault.
public enum SuiteError: Error, CustomStringConvertible, Equatable, Sendable {
  /// Neither a built-in suite nor a readable file.
  case notFound(name: String, builtIn: [String])
  /// The file is not a valid suite (bad YAML, a wrong type, an unknown or missing key).
  case invalid(suite: String, reason: String)
  /// A `task:` entry names no task of `TaskSpec.named`.
  case unknownTask(suite: String, index: Int, name: String, allowed: [String])
  /// An entry is not a valid task (both or neither of `task` and `spec`, a bad spec, a name
  /// used twice).
  case invalidEntry(suite: String, index: Int, reason: String)

  /// The problem, where it is and what to do.
  public var description: String {
    switch self {
    case .notFound(let name, let builtIn):
      "unknown suite '\(name)': give a built-in suite (\(builtIn.joined(separator: ", "))) or "
        + "the path of a suite YAML file"
    case .invalid(let suite, let reason): "suite \(suite): \(reason)"
    case .unknownTask(let suite, let index, let name, let allowed):
      "suite \(suite), tasks[\(index)]: unknown task '\(name)'; the named tasks are "
        + allowed.joined(separator: ", ") + " (or give an inline 'spec:')"
    case .invalidEntry(let suite, let index, let reason):
      "suite \(suite), tasks[\(index)]: \(reason)"
    }
  }
}

/// A list of tasks to evaluate optimizers on, read from YAML.
///
/// ```yaml
/// description: Held-out seeds of the meta-training tasks.
/// steps: 1000          # training steps when `lopt eval` gets no --steps
/// seeds: 3             # seeds when it gets no --seeds
/// firstSeed: 7000000   # evaluation seed k sets the spec's seed to firstSeed + k
/// tasks:
///   - task: mlp-fashion8-relu32          # a named task (lopt tasks list)
///   - name: mlp-wide-fashion8            # an inline task spec (lopt tasks sample)
///     stepMultiple: 10                   # this task trains 10× the suite's steps
///     spec: {family: image-mlp, model: {hiddenWidths: [256]}, data: {dataset: fashion8,
///            imageSize: 8}, batchSize: 64, activation: relu}
/// ```
///
/// Every key but `tasks` is optional; an inline spec may leave out `augmentation` (none) and
/// `seed` (the evaluation seeds replace it). Unknown keys are rejected.
public struct EvaluationSuite: Equatable, Sendable {
  /// One task of the suite.
  public struct Entry: Equatable, Sendable {
    /// The task's label in reports (the named task's name, or the entry's `name`).
    public var name: String
    /// The task; its `seed` is replaced by each evaluation seed.
    public var spec: TaskSpec
    /// This task trains `stepMultiple` × the evaluation's steps.
    public var stepMultiple: Int

    /// Creates an entry.
    public init(name: String, spec: TaskSpec, stepMultiple: Int = 1) {
      self.name = name
      self.spec = spec
      self.stepMultiple = stepMultiple
    }
  }

  /// The suite's name (a built-in name or the file name without extension).
  public var name: String
  /// What the suite measures.
  public var summary: String?
  /// Training steps when the command line gives none.
  public var steps: Int?
  /// Seeds per task when the command line gives none.
  public var seeds: Int?
  /// Evaluation seed `k` sets each spec's seed to `firstSeed + k`.
  public var firstSeed: UInt64
  /// The tasks, in file order.
  public var tasks: [Entry]

  /// The suites shipped with Lopt.
  public static let builtInNames = ["fixed-small", "in-distribution", "ood"]

  /// Creates a suite in code.
  public init(
    name: String, summary: String? = nil, steps: Int? = nil, seeds: Int? = nil,
    firstSeed: UInt64 = 0, tasks: [Entry]
  ) {
    self.name = name
    self.summary = summary
    self.steps = steps
    self.seeds = seeds
    self.firstSeed = firstSeed
    self.tasks = tasks
  }

  /// The file layout, decoded strictly.
  private struct File: Codable {
    struct Item: Codable {
      var task: String?
      var name: String?
      var spec: TaskSpec?
      var stepMultiple: Int?
    }

    var description: String?
    var steps: Int?
    var seeds: Int?
    var firstSeed: UInt64?
    var tasks: [Item]
  }

  /// Reads a suite from YAML text.
  ///
  /// - Parameters:
  ///   - yaml: the suite file's contents.
  ///   - name: the suite's name, used in reports.
  ///   - source: what error messages call the suite (default: `name`; for a file, its path).
  /// - Throws: ``SuiteError`` naming the key or entry at fault.
  public init(yaml: String, name: String, source: String? = nil) throws {
    let source = source ?? name
    let file: File
    do {
      guard let object = try StrictYAML.object(from: yaml) as? [String: Any] else {
        throw SuiteError.invalid(suite: source, reason: "a suite is a YAML map with a 'tasks' list")
      }
      file = try StrictJSON.decode(
        File.self, from: JSONSerialization.data(withJSONObject: object))
    } catch let error as TaskSpecError {
      if case .unknownField(let key) = error {
        throw SuiteError.invalid(suite: source, reason: "unknown key '\(key)'")
      }
      throw SuiteError.invalid(suite: source, reason: error.reason)
    }
    self.name = name
    summary = file.description
    steps = file.steps
    seeds = file.seeds
    firstSeed = file.firstSeed ?? 0
    if let steps, !(1...maximumTrainingSteps).contains(steps) {
      throw SuiteError.invalid(
        suite: source, reason: "steps must be in 1...\(maximumTrainingSteps), got \(steps)")
    }
    if let seeds, !(1...1000).contains(seeds) {
      throw SuiteError.invalid(suite: source, reason: "seeds must be in 1...1000, got \(seeds)")
    }
    guard !file.tasks.isEmpty else {
      throw SuiteError.invalid(suite: source, reason: "the 'tasks' list is empty")
    }
    tasks = try file.tasks.enumerated().map { index, item in
      try Self.entry(item, index: index, suite: source)
    }
    var seen: Set<String> = []
    for (index, entry) in tasks.enumerated() where !seen.insert(entry.name).inserted {
      throw SuiteError.invalidEntry(
        suite: source, index: index,
        reason: "the name '\(entry.name)' is used twice; give the entry a 'name:'")
    }
  }

  private static func entry(_ item: File.Item, index: Int, suite: String) throws -> Entry {
    let multiple = item.stepMultiple ?? 1
    guard (1...1000).contains(multiple) else {
      throw SuiteError.invalidEntry(
        suite: suite, index: index, reason: "stepMultiple must be in 1...1000, got \(multiple)")
    }
    switch (item.task, item.spec) {
    case (let task?, nil):
      guard let spec = TaskSpec.named[task] else {
        throw SuiteError.unknownTask(
          suite: suite, index: index, name: task, allowed: TaskSpec.named.keys.sorted())
      }
      return Entry(name: item.name ?? task, spec: spec, stepMultiple: multiple)
    case (nil, let spec?):
      do {
        try spec.validate()
      } catch let error as TaskSpecError {
        throw SuiteError.invalidEntry(suite: suite, index: index, reason: error.description)
      }
      let name = item.name ?? "\(spec.family.rawValue)-\(spec.data.dataset)-\(index)"
      return Entry(name: name, spec: spec, stepMultiple: multiple)
    default:
      throw SuiteError.invalidEntry(
        suite: suite, index: index,
        reason: "give either 'task: NAME' (a named task) or 'spec: {…}' (an inline task spec)")
    }
  }

  /// The built-in suite `name`, or the suite in the file at path `name`.
  ///
  /// - Throws: ``SuiteError`` when it is neither, does not parse, or is built in but the
  ///   shipped suite files are missing.
  public static func load(_ name: String) throws -> EvaluationSuite {
    if builtInNames.contains(name) {
      guard
        let text = shippedDirectory.flatMap({
          try? String(contentsOf: $0.appendingPathComponent(name + ".yaml"), encoding: .utf8)
        })
      else {
        throw SuiteError.invalid(
          suite: name,
          reason: "the shipped suite files are missing: copy the Lopt_LoptEval.resources folder "
            + "from the build folder beside the lopt executable, or give a suite file's path")
      }
      return try EvaluationSuite(yaml: text, name: name)
    }
    guard let text = try? String(contentsOfFile: name, encoding: .utf8) else {
      throw SuiteError.notFound(name: name, builtIn: builtInNames)
    }
    return try EvaluationSuite(
      yaml: text, name: URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent,
      source: name)
  }

  /// The folder of the shipped suite files inside LoptEval's resource bundle, `nil` if absent
  /// (see `ShippedResources`).
  public static var shippedDirectory: URL? {
    ShippedResources.url(bundle: "Lopt_LoptEval.resources", path: "suites")
  }
}
