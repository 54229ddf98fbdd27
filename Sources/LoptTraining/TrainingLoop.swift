import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks

/// Why a training run stopped early.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
  /// The loss came back NaN or infinite.
  case nonFiniteLoss(step: Int, loss: Float)
  /// A gradient element was NaN or infinite.
  case nonFiniteGradient(step: Int)

  /// What to try after a divergence: a smaller learning rate, or for a learned optimizer
  /// (`isLearned`), which has none to lower, another checkpoint or optimizer.
  public static func hint(isLearned: Bool) -> String {
    isLearned
      ? "the learned optimizer does not suit this task; try another checkpoint or a "
        + "hand-designed optimizer"
      : "try a smaller learning rate"
  }

  /// What happened and what to try (see ``hint(isLearned:)``).
  public func message(isLearned: Bool) -> String {
    switch self {
    case .nonFiniteLoss(let step, let loss):
      "training diverged: the loss is \(loss) at step \(step); \(Self.hint(isLearned: isLearned))"
    case .nonFiniteGradient(let step):
      "training diverged: the gradient has NaN or infinite elements at step \(step); "
        + Self.hint(isLearned: isLearned)
    }
  }

  /// What happened and what to try (the hint for a hand-designed optimizer).
  public var description: String { message(isLearned: false) }
}

extension TrainingResult {
  /// The ``lossGrowth`` above which a run counts as diverged although every loss is finite.
  public static let divergenceFactor: Float = 10

  /// The mean of the last ten losses divided by the first, when the first is positive.
  public var lossGrowth: Float? {
    guard let initial = losses.first, initial > 0 else { return nil }
    let tail = losses.suffix(10)
    return tail.reduce(0, +) / Float(tail.count) / initial
  }
}

/// One logged point of a training run.
public struct TrainingRecord: Codable, Sendable, Equatable {
  /// The step whose loss this is (0-based: the loss before update `step + 1`).
  public var step: Int
  /// The training loss on that step's batch.
  public var loss: Float
  /// The evaluation loss on the validation split, when it was measured at this step.
  public var validationLoss: Float?
  /// The classification accuracy on the validation split, when it was measured at this step
  /// and the task is a classifier.
  public var validationAccuracy: Float? = nil
}

/// What a finished (or stopped) run produced.
public struct TrainingResult: Sendable {
  /// The final parameters.
  public var parameters: ParameterSet
  /// Every step's training loss, in order.
  public var losses: [Float]
  /// The logged records (every `logInterval` steps and the last step).
  public var records: [TrainingRecord]
}

/// The longest training run a user file or flag may ask for: ten million steps, whose loss
/// history alone is 40 MB.
public let maximumTrainingSteps = 10_000_000

/// Trains `task` with `optimizer` for `steps` steps from parameters drawn with `key`.
///
/// Each step computes the loss and gradient on that step's batch, checks both are finite and
/// applies one optimizer update. `onRecord` is called for each logged record (every
/// `logInterval` steps and the last), with the validation loss (and a classifier's accuracy)
/// over `validationBatches` batches when that is positive.
///
/// - Throws: ``TrainingError`` when the loss or a gradient element stops being finite.
/// - Complexity: the step loop allocates nothing apart from the loss history.
public func train<O: Optimizer>(
  _ task: some TrainingTask, optimizer: O, steps: Int, key: RandomKey,
  logInterval: Int = 100, validationBatches: Int = 0,
  onRecord: (TrainingRecord) -> Void = { _ in }
) throws -> TrainingResult {
  precondition(steps >= 0 && logInterval > 0, "steps must be ≥ 0 and the log interval > 0")
  var run = TrainingRun<O.State>(
    task: task, parameters: task.initialParameters(key: key), length: steps)
  var losses: [Float] = []
  losses.reserveCapacity(steps)
  var records: [TrainingRecord] = []
  try run.advance(steps: steps, with: optimizer) { step, loss, parameters in
    losses.append(loss)
    guard step % logInterval == 0 || step == steps - 1 else { return }
    let validation =
      validationBatches > 0
      ? task.evaluation(parameters, split: .valid, batches: validationBatches) : nil
    let record = TrainingRecord(
      step: step, loss: loss, validationLoss: validation?.loss,
      validationAccuracy: validation?.accuracy)
    records.append(record)
    onRecord(record)
  }
  return TrainingResult(parameters: run.parameters, losses: losses, records: records)
}
