import Dispatch
import Foundation
import LoptTasks
import Synchronization

/// A learning-rate × seed grid of training runs, run in parallel and cached.
///
/// Each run is one call of a training closure that builds its own task (tasks are not
/// thread-safe) and returns the loss of every step. Runs are spread over all cores with
/// `DispatchQueue.concurrentPerform`, one run per thread; call `BLAS.useSingleThread()` first.
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
  /// A run whose training throws ``TrainingError`` is recorded as diverged and the sweep goes
  /// on; any other error stops the sweep after the runs in flight.
  ///
  /// - Parameters:
  ///   - cache: where finished runs are looked up and stored (`nil`: nothing is cached).
  ///   - train: trains one run (`learningRate`, `seed`, `steps`) and returns its losses.
  ///   - progress: called after each run with the runs done and the total, serially.
  /// - Returns: one record per run, in ``keys`` order.
  /// - Throws: the first error other than ``TrainingError`` a run or the cache threw.
  public func run(
    cache: RunCache?,
    train: @Sendable (_ learningRate: Float, _ seed: UInt64, _ steps: Int) throws -> [Float],
    progress: @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws -> [RunRecord] {
    let keys = self.keys
    var records = keys.map { cache?.record(for: $0) }
    let missing = records.indices.filter { records[$0] == nil }
    let state = Mutex((done: keys.count - missing.count, firstError: (any Error)?.none))
    progress(state.withLock { $0.done }, keys.count)
    records.withUnsafeMutableBufferPointer { buffer in
      // Each iteration writes only its own slot `missing[i]`, so the writes never overlap.
      nonisolated(unsafe) let slots = buffer.baseAddress!
      DispatchQueue.concurrentPerform(iterations: missing.count) { i in
        let key = keys[missing[i]]
        do {
          let record = try Self.record(for: key, train: train)
          try cache?.store(record)
          slots[missing[i]] = record
          state.withLock {
            $0.done += 1
            progress($0.done, keys.count)
          }
        } catch {
          state.withLock { $0.firstError = $0.firstError ?? error }
        }
      }
    }
    if let error = state.withLock({ $0.firstError }) { throw error }
    return records.map { $0! }
  }

  /// Trains the run of `key`, turning a divergence into a record.
  private static func record(
    for key: RunKey,
    train: (Float, UInt64, Int) throws -> [Float]
  ) throws -> RunRecord {
    let start = Date()
    var losses: [Float] = []
    var diverged: Int?
    do {
      losses = try train(key.learningRate, key.seed, key.steps)
    } catch let error as TrainingError {
      switch error {
      case .nonFiniteLoss(let step, _), .nonFiniteGradient(let step): diverged = step
      }
    }
    return RunRecord(
      key: key, losses: losses, divergedAtStep: diverged,
      seconds: Date().timeIntervalSince(start))
  }
}
