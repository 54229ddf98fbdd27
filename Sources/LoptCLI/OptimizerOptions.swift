import ArgumentParser
import Foundation
import LoptLearned
import LoptOptimizers

/// The hand-designed optimizers `lopt train` and `lopt tune` offer.
enum OptimizerName: String, ExpressibleByArgument, CaseIterable, Sendable {
  case sgd, momentum, rmsprop, adam, adamw, nadamw, adafactor, shampoo, lion, muon

  /// A learning rate that works on the MLP tasks without tuning.
  var defaultLearningRate: Float {
    switch self {
    case .sgd: 0.1
    case .momentum: 0.01
    case .rmsprop, .adam, .adamw, .nadamw, .shampoo: 1e-3
    case .adafactor, .muon: 1e-2
    case .lion: 1e-4
    }
  }

  /// The rule with optax's defaults at `learningRate`.
  func makeRule(learningRate lr: Float) -> any LearningRateOptimizer {
    switch self {
    case .sgd: Momentum.sgd(learningRate: lr)
    case .momentum: Momentum(learningRate: lr)
    case .rmsprop: RMSProp(learningRate: lr)
    case .adam: Adam(learningRate: lr)
    case .adamw: Adam.adamW(learningRate: lr)
    case .nadamw: Adam.nadamW(learningRate: lr)
    case .adafactor: Adafactor(learningRate: lr)
    case .shampoo: Shampoo(learningRate: lr)
    case .lion: Lion(learningRate: lr)
    case .muon: Muon(learningRate: lr)
    }
  }
}

/// What `--optimizer` names: a hand-designed rule, the shipped learned optimizer, or the kind
/// of learned optimizer a `--checkpoint` holds.
enum OptimizerChoice: ExpressibleByArgument, Equatable, Sendable {
  /// A hand-designed rule.
  case handDesigned(OptimizerName)
  /// The learned optimizer shipped with Lopt (`ShippedLearnedOptimizer`).
  case shipped
  /// A learned optimizer of this kind, loaded from `--checkpoint`.
  case learned(LearnedOptimizerKind)

  /// The shipped learned optimizer's spelling on the command line.
  static let shippedName = "learned"

  /// The learned kinds' spellings on the command line: their names with hyphens.
  static let learnedNames = Dictionary(
    uniqueKeysWithValues: LearnedOptimizerKind.allCases.map {
      ($0.rawValue.replacingOccurrences(of: "_", with: "-"), $0)
    })

  init?(argument: String) {
    if let name = OptimizerName(rawValue: argument) {
      self = .handDesigned(name)
    } else if argument == Self.shippedName {
      self = .shipped
    } else if let kind = Self.learnedNames[argument] {
      self = .learned(kind)
    } else {
      return nil
    }
  }

  static var allValueStrings: [String] {
    OptimizerName.allCases.map(\.rawValue) + [shippedName] + learnedNames.keys.sorted()
  }

  /// The spelling on the command line.
  var name: String {
    switch self {
    case .handDesigned(let name): name.rawValue
    case .shipped: Self.shippedName
    case .learned(let kind): Self.learnedNames.first { $0.value == kind }!.key
    }
  }
}

extension LearningRateSchedule.Decay: ExpressibleByArgument {}

/// The options that choose how `lopt train` and `lopt tune` update the parameters.
struct OptimizerOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "The optimizer (default adam); learned is the learned optimizer Lopt ships; velo, "
        + "mlp-lopt, adafac-mlp and scheduled-adam need --checkpoint."))
  var optimizer: OptimizerChoice?

  @Option(
    help: ArgumentHelp(
      "Peak learning rate (default: 0.1 sgd, 0.01 momentum, adafactor and muon, 1e-4 lion, "
        + "1e-3 the others)."))
  var lr: Float?

  @Option(help: "How the learning rate decays after the warm-up.")
  var schedule: LearningRateSchedule.Decay = .constant

  @Option(help: "Steps of linear learning-rate warm-up from zero.")
  var warmup: Int = 0

  @Option(help: "Clip gradients to this global norm.")
  var clipNorm: Float?

  @Option(
    help: ArgumentHelp(
      "Train with the learned optimizer in this checkpoint (any learned kind; Lopt "
        + "safetensors or flax msgpack) instead of --optimizer; the run length becomes its "
        + "num_steps. The learning-rate options do not apply."))
  var checkpoint: String?

  func validate() throws {
    switch (optimizer, checkpoint) {
    case (.learned(let kind)?, nil):
      throw ValidationError(
        "--optimizer \(optimizer!.name) is a learned optimizer: give its --checkpoint FILE "
          + "(\(kind.rawValue) meta-parameters)")
    case (.handDesigned(let name)?, _?):
      throw ValidationError(
        "--checkpoint trains with a learned optimizer; --optimizer \(name.rawValue) is not one "
          + "(use velo, mlp-lopt, adafac-mlp or scheduled-adam, or drop --optimizer)")
    case (.shipped?, _?):
      throw ValidationError(
        "--optimizer learned is the shipped learned optimizer: drop --checkpoint, or drop "
          + "--optimizer to train with the checkpoint")
    default: break
    }
    if isLearned, lr != nil || clipNorm != nil || warmup != 0 || schedule != .constant {
      throw ValidationError(
        "a learned optimizer sets its own step sizes: drop --lr, --schedule, --warmup and "
          + "--clip-norm")
    }
    if let lr, !(lr.isFinite && lr > 0) {
      throw ValidationError("--lr must be a positive number, got \(lr)")
    }
    guard warmup >= 0 else { throw ValidationError("--warmup must be ≥ 0, got \(warmup)") }
    if let clipNorm, !(clipNorm.isFinite && clipNorm > 0) {
      throw ValidationError("--clip-norm must be a positive number, got \(clipNorm)")
    }
  }

  /// The hand-designed rule (adam unless `--optimizer` names another).
  var handDesigned: OptimizerName {
    if case .handDesigned(let name)? = optimizer { return name }
    return .adam
  }

  /// Whether the optimizer is learned (shipped or from `--checkpoint`).
  var isLearned: Bool { checkpoint != nil || optimizer == .shipped }

  /// The learning rate used when no other is given.
  var learningRate: Float { lr ?? handDesigned.defaultLearningRate }

  /// The configured optimizer at `learningRate` (default: ``learningRate``).
  func makeOptimizer(learningRate: Float? = nil) throws -> any Optimizer {
    if optimizer == .shipped {
      guard learningRate == nil else {
        throw ValidationError("the learned optimizer has no learning rate to sweep")
      }
      return try ShippedLearnedOptimizer.optimizer()
    }
    guard let checkpoint else {
      return wrap(handDesigned.makeRule(learningRate: learningRate ?? self.learningRate))
    }
    guard learningRate == nil else {
      throw ValidationError("a learned optimizer (--checkpoint) has no learning rate to sweep")
    }
    let loaded = try Checkpoint.load(URL(fileURLWithPath: checkpoint))
    if case .learned(let kind)? = optimizer, kind != loaded.kind {
      throw ValidationError(
        "--optimizer \(optimizer!.name): \(checkpoint) holds a \(loaded.kind.rawValue) "
          + "checkpoint")
    }
    return try loaded.makeOptimizer()
  }

  private func wrap<Rule: LearningRateOptimizer>(_ rule: Rule) -> any Optimizer {
    let schedule = LearningRateSchedule(decay: schedule, warmupSteps: warmup)
    if let clipNorm {
      return ScheduledOptimizer(ClippedOptimizer(rule, maximumNorm: clipNorm), schedule: schedule)
    }
    return ScheduledOptimizer(rule, schedule: schedule)
  }

  /// Every setting except the learning rate, as `name key=value …` (a cache key component).
  var settings: String {
    var parts = [handDesigned.rawValue, "schedule=\(schedule.rawValue)", "warmup=\(warmup)"]
    if let clipNorm { parts.append("clip-norm=\(clipNorm)") }
    return parts.joined(separator: " ")
  }

  /// One line naming the optimizer and its settings.
  var summary: String {
    if optimizer == .shipped { return "the shipped learned optimizer" }
    return checkpoint.map { "the learned optimizer in \($0)" } ?? "\(settings) lr=\(learningRate)"
  }
}
