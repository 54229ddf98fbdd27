import Dispatch
import Foundation
import LoptCore
import LoptTasks
import LoptTraining
import Synchronization

/// A learning-rate × seed grid of training runs, run in parallel and cached.
///
/// Each run is one call of a training closure that builds its own task (tasks are not
/// thread-safe) and returns the loss of every step. Runs are spread over all cores with
/// `WorkerPool`, one run per thread; call `BLAS.useSingleThread()` first.
public struct LearningRateSweep: Sendable {
  /// The task, completely (part of every run's cache key).
  public var task: String
  /// The optimizer and its hyper-parameters except the learning rate (part of the key).
  public var optimizer: String
  /// The learning rates to try.
  public var learningRates: [Float]
  /// The seeds to try at every learning rate.
  public var seeds: [UInt64]
  /// Training steps per run.
  public var steps: Int

  /// Creates a sweep.
  ///
  /// - Precondition: at least one learning rate and seed, and `steps > 0`.
  public init(
    task: String, optimizer: String, learningRates: [Float] = LearningRateSweep.veloGrid,
    seeds: [UInt64], steps: Int
  ) {
    precondition(!learningRates.isEmpty && !seeds.isEmpty, "a sweep needs rates and seeds")
    precondition(steps > 0, "a sweep needs steps > 0, got \(steps)")
    self.task = task
    self.optimizer = optimizer
    self.learningRates = learningRates
    self.seeds = seeds
    self.steps = steps
  }

  /// VeLO's grid: 15 learning rates 1e-7, 3e-7 (≈10^-6.5), 1e-6, …, 0.3, 1 (half decades).
  public static let veloGrid: [Float] = (0..<15).map { Float(pow(10, -7 + 0.5 * Double($0))) }

  /// The cache keys of every run, learning rate major.
  public var keys: [RunKey] {
    learningRates.flatMap { lr in
      seeds.map {
        RunKey(task: task, optimizer: optimizer, learningRate: lr, seed: $0, steps: steps)
      }
    }
  }

  /// Runs every point not already in `cache` and returns all records, in ``keys`` order.
  ///
  /// A run whose training throws `TrainingError` is recorded as diverged and the sweep goes
  /// on; any other error stops the sweep after the runs in flight.
  ///
  /// - Parameters:
  ///   - cache: where finished runs are looked up and stored (`nil`: nothing is cached).
  ///   - train: trains one run (`learningRate`, `seed`, `steps`) and returns its losses.
  ///   - progress: called after each run with the runs done and the total, serially.
  /// - Returns: one record per run, in ``keys`` order.
  /// - Throws: the first error other than `TrainingError` a run or the cache threw.
  public func run(
    cache: RunCache?,
    train: @Sendable (_ learningRate: Float, _ seed: UInt64, _ steps: Int) throws -> [Float],
    progress: @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws -> [RunRecord] {
    try Self.run(
      keys, cache: cache,
      train: { RunOutcome(losses: try train($0.learningRate, $0.seed, $0.steps)) },
      progress: { progress($0.runsDone, $0.runs) })
  }

  /// Runs every key not already in `cache` on `threads` threads and returns all records, in
  /// the order of `keys`.
  ///
  /// Each thread takes the next missing run, longest first (so the long runs do not straggle
  /// at the end); a key listed twice is run once. A run whose training throws
  /// `TrainingError` is recorded as diverged; any other error stops the batch after the runs
  /// in flight.
  ///
  /// - Parameters:
  ///   - keys: the runs, possibly from many sweeps.
  ///   - cache: where finished runs are looked up and stored (`nil`: nothing is cached).
  ///   - threads: runs at a time (default: every core; more than the cores adds nothing).
  ///   - train: trains the run of a key and returns its losses (and accuracy).
  ///   - progress: called once before the first run and after each run, serially.
  /// - Returns: one record per key, in `keys` order.
  /// - Throws: the first error other than `TrainingError` a run or the cache threw.
  public static func run(
    _ keys: [RunKey], cache: RunCache?,
    threads: Int = ProcessInfo.processInfo.activeProcessorCount,
    train: @Sendable (RunKey) throws -> RunOutcome,
    progress: @Sendable (RunProgress) -> Void = { _ in }
  ) throws -> [RunRecord] {
    precondition(threads > 0, "a batch of runs needs at least one thread")
    var found: [RunKey: RunRecord] = [:]
    var unfound: [RunKey] = []
    for key in Set(keys) {
      if let record = cache?.record(for: key) { found[key] = record } else { unfound.append(key) }
    }
    let missing = unfound.sorted { ($0.steps, $0.canonicalText) > ($1.steps, $1.canonicalText) }
    let cachedSteps = found.keys.reduce(0) { $0 + $1.steps }
    let state = Mutex(
      (
        firstError: (any Error)?.none, records: found,
        progress: RunProgress(
          runsDone: found.count, runs: found.count + missing.count,
          stepsDone: cachedSteps, steps: cachedSteps + missing.reduce(0) { $0 + $1.steps },
          cachedRuns: found.count, cachedSteps: cachedSteps)
      ))
    progress(state.withLock { $0.progress })
    WorkerPool(threads: threads).run(missing.count) { index in
      guard state.withLock({ $0.firstError == nil }) else { return }
      let key = missing[index]
      do {
        let record = try Self.record(for: key, train: train)
        try cache?.store(record)
        state.withLock {
          $0.records[key] = record
          $0.progress.runsDone += 1
          $0.progress.stepsDone += key.steps
          progress($0.progress)
        }
      } catch {
        state.withLock { $0.firstError = $0.firstError ?? error }
      }
    }
    return try state.withLock { s in
      if let error = s.firstError { throw error }
      return keys.map { s.records[$0]! }
    }
  }

  /// Trains the run of `key`, turning a divergence into a record.
  private static func record(
    for key: RunKey, train: (RunKey) throws -> RunOutcome
  ) throws -> RunRecord {
    let start = Date()
    var outcome = RunOutcome(losses: [])
    var diverged: Int?
    do {
      outcome = try train(key)
    } catch let error as TrainingError {
      switch error {
      case .nonFiniteLoss(let step, _), .nonFiniteGradient(let step): diverged = step
      }
    }
    return RunRecord(
      key: key, losses: outcome.losses, divergedAtStep: diverged,
      seconds: Date().timeIntervalSince(start), accuracy: outcome.accuracy)
  }
}

/// What training one run produced: its losses and, for a classifier, its final accuracy.
public struct RunOutcome: Sendable {
  /// The training loss of every step.
  public var losses: [Float]
  /// The accuracy on the test split after the last step (classifiers only).
  public var accuracy: Float?

  /// Creates an outcome.
  public init(losses: [Float], accuracy: Float? = nil) {
    self.losses = losses
    self.accuracy = accuracy
  }
}

/// How far a batch of runs has got, counting cached runs as done.
public struct RunProgress: Sendable, Equatable {
  /// Runs finished (cached ones included).
  public var runsDone: Int
  /// All runs of the batch.
  public var runs: Int
  /// Training steps of the finished runs.
  public var stepsDone: Int
  /// Training steps of all runs.
  public var steps: Int
  /// Runs found in the cache before the batch started.
  public var cachedRuns: Int
  /// Training steps of those runs.
  public var cachedSteps: Int

  /// Creates a progress value.
  public init(
    runsDone: Int, runs: Int, stepsDone: Int, steps: Int, cachedRuns: Int, cachedSteps: Int
  ) {
    self.runsDone = runsDone
    self.runs = runs
    self.stepsDone = stepsDone
    self.steps = steps
    self.cachedRuns = cachedRuns
    self.cachedSteps = cachedSteps
  }
}
