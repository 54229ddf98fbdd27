import Foundation
import LoptEval
import LoptTasks
import LoptTraining
import Synchronization
import Testing

@Suite struct LearningRateSweepTests {
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-sweep-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A fake run: the loss falls like `1 / (1 + lr · step)`, diverging for lr ≥ 1.
  static func fakeRun(_ lr: Float, _ seed: UInt64, _ steps: Int) throws -> [Float] {
    if lr >= 1 { throw TrainingError.nonFiniteLoss(step: 3, loss: .nan) }
    return (0..<steps).map { 1 / (1 + lr * Float($0)) + Float(seed) * 1e-3 }
  }

  @Test func theVeLOGridHasFifteenHalfDecades() {
    let grid = LearningRateSweep.veloGrid
    #expect(grid.count == 15)
    #expect(abs(grid[0] - 1e-7) < 1e-13 && grid[14] == 1 && abs(grid[1] - 3.1622776e-7) < 1e-12)
  }

  @Test func findsTheBestRateRecordsDivergenceAndCachesEveryRun() throws {
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = try RunCache(directory: directory)
    let sweep = LearningRateSweep(
      task: "fake", optimizer: "sgd", learningRates: [0.01, 0.1, 1], seeds: [0, 1], steps: 50)
    let calls = Mutex(0)
    let records = try sweep.run(cache: cache) { lr, seed, steps in
      calls.withLock { $0 += 1 }
      return try Self.fakeRun(lr, seed, steps)
    }
    #expect(calls.withLock { $0 } == 6)
    #expect(records.filter(\.hasDiverged).map(\.key.seed) == [0, 1])
    let summary = SweepSummary(records: records)
    #expect(summary.best?.learningRate == 0.1)
    #expect(summary.points[2].divergedSeeds == [0, 1] && summary.points[2].finalLoss == nil)
    let envelope = summary.lowerEnvelope
    #expect(envelope.count == 50 && zip(envelope, envelope.dropFirst()).allSatisfy { $0 >= $1 })

    // Every run comes from the cache: the training closure is not called again.
    let again = try sweep.run(cache: cache) { _, _, _ in
      calls.withLock { $0 += 1 }
      return []
    }
    #expect(calls.withLock { $0 } == 6)
    #expect(again == records)
  }

  @Test func theMovingAverageKeepsTheFirstValue() {
    let smoothed = SweepSummary.exponentialMovingAverage([2, 0, 0])
    #expect(smoothed[0] == 2 && abs(smoothed[1] - 1.9) < 1e-6 && abs(smoothed[2] - 1.805) < 1e-6)
  }

  @Test func aKeyChangeMissesTheCache() throws {
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = try RunCache(directory: directory)
    let key = RunKey(task: "t", optimizer: "adam", learningRate: 0.1, seed: 0, steps: 3)
    try cache.store(RunRecord(key: key, losses: [3, 2, 1], divergedAtStep: nil, seconds: 0))
    #expect(cache.record(for: key)?.losses == [3, 2, 1])
    var other = key
    other.steps = 4
    #expect(cache.record(for: other) == nil)
  }

  @Test func accuraciesAreAveragedOverSeedsOnlyWhenEverySeedHasOne() throws {
    func record(_ seed: UInt64, _ rate: Float, _ accuracy: Float?) -> RunRecord {
      RunRecord(
        key: RunKey(task: "t", optimizer: "adam", learningRate: rate, seed: seed, steps: 2),
        losses: [2, 1], divergedAtStep: nil, seconds: 0, accuracy: accuracy)
    }
    let summary = SweepSummary(records: [
      record(0, 0.1, 0.5), record(1, 0.1, 0.75), record(0, 0.01, 0.5), record(1, 0.01, nil),
    ])
    #expect(summary.points.map(\.accuracy) == [0.625, nil])
  }
}
