import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks
import LoptTraining
import Synchronization

/// A training run scored by where it ends: one task and seed, an optimizer used as it is (no
/// learning-rate sweep), and the run's final loss recomputed on fresh batches.
///
/// Meta-training's periodic evaluation is a list of these (θ and Adam at 1e-3 on fixed tasks and
/// seeds), split over processes; ``Evaluation`` is the full evaluation with tuned baselines.
public struct FinalLossRun: Sendable {
  /// The task, with the seed of the run.
  public var spec: TaskSpec
  /// The optimizer.
  public var optimizer: any Optimizer
  /// Training steps.
  public var steps: Int

  /// Creates a run.
  public init(spec: TaskSpec, optimizer: any Optimizer, steps: Int) {
    self.spec = spec
    self.optimizer = optimizer
    self.steps = steps
  }

  /// Trains the run and returns the mean normalised training loss of its final parameters on
  /// the `batches` batches after its last step (`TrainingTask.recomputedLoss`).
  ///
  /// - Returns: the loss, or NaN when the task cannot be built or training diverges (so that
  ///   every process of a distributed run gets a value for every run).
  public func finalLoss(batches: Int, locator: DataLocator = DataLocator()) -> Float {
    guard let task = try? spec.makeTask(locator: locator),
      let result = try? train(
        task, optimizer: optimizer, steps: steps, key: spec.initializationKey,
        logInterval: steps)
    else { return .nan }
    return task.recomputedLoss(result.parameters, after: steps, batches: batches)
  }

  /// Trains `runs` on `threads` threads, one run per thread at a time.
  ///
  /// - Returns: ``finalLoss(batches:locator:)`` of every run, in order; the values do not depend
  ///   on `threads`.
  public static func finalLosses(
    of runs: [FinalLossRun], batches: Int, threads: Int, locator: DataLocator = DataLocator()
  ) -> [Float] {
    let losses = Mutex([Float](repeating: .nan, count: runs.count))
    WorkerPool(threads: threads).run(runs.count) { index in
      let loss = runs[index].finalLoss(batches: batches, locator: locator)
      losses.withLock { $0[index] = loss }
    }
    return losses.withLock { $0 }
  }
}
