import ArgumentParser
import Foundation
import LoptCore
import LoptData
import LoptMeta
import LoptNN
import LoptOptimizers
import LoptTasks
import LoptTraining

/// `lopt bench`: training steps per second of the reference MLPs on this machine.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure training steps/s and optimizer updates (one thread) and meta-training.",
    discussion: """
      The same workloads and method as the JAX peer benchmark: random data (16 batches \
      cycled), relu MLP, softmax cross-entropy, Adam (lr 1e-3); after warm-up, steps are timed \
      in blocks of about --block-seconds and the median block rate is reported with its range. \
      Optimizer updates: one tensor of 1e2 to 1e6 parameters (a vector and a matrix), VeLO at \
      the released sizes with random meta-parameters and Adam, in microseconds per update; \
      ScheduledAdamLOpt, AdafacMLP and MLPLOpt at 1e4 and 1e6; Muon and ScheduledAdamLOpt \
      with Muon's direction at 1e4 and 1e5. Meta-training: inner steps/s on --meta-config \
      with 1 and 2 threads, and on learned_optimization's own truncated-ES benchmark workload \
      (--peer-meta-config) next to that peer's figure.
      """)

  @Option(help: "Timed blocks per workload.")
  var repeats: Int = 5

  @Option(help: "Approximate length of one timed block, in seconds.")
  var blockSeconds: Double = 1

  @Option(help: "Also write the results as JSON to this file.")
  var json: String?

  @Option(
    help: """
      Also measure meta-training throughput (inner steps/s with 1 and 2 threads) with this \
      configuration, run for a few outer steps (FullES with a constant unroll of 100 steps); \
      "none" to skip.
      """)
  var metaConfig = "configs/fast-mlp.yaml"

  @Option(
    help: ArgumentHelp(
      "Also measure meta-training throughput on learned_optimization's truncated-ES benchmark "
        + "workload (1 thread; the peer's figure is ../shared/peers RESULTS.md §iv); \"none\" to "
        + "skip."))
  var peerMetaConfig = "configs/peer-truncated-es.yaml"

  @Flag(
    inversion: .prefixedNo,
    help: ArgumentHelp(
      "Also time single optimizer updates (VeLO, Adam, ScheduledAdamLOpt, AdafacMLP, MLPLOpt; "
        + "1e2 to 1e6 parameters)."))
  var updates = true

  func validate() throws {
    guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
    guard blockSeconds > 0 else { throw ValidationError("--block-seconds must be positive") }
  }

  func run() throws {
    BLAS.useSingleThread()
    var results: [BenchResult] = []
    for workload in BenchWorkload.all {
      let result = try measure(workload)
      print(
        "\(workload.name)  MLP \(workload.widthsText), batch \(workload.batchSize): "
          + "\(Int(result.median)) steps/s (\(Int(result.min))–\(Int(result.max)))")
      results.append(result)
    }
    if updates { results += measureUpdates() }
    if metaConfig != "none" {
      for threads in [1, 2] {
        let result = try measureMetaTraining(metaConfig, threads: threads)
        print(
          "meta-training (\(metaConfig), \(threads) thread\(threads > 1 ? "s" : "")): "
            + "\(Int(result.median)) inner steps/s (\(Int(result.min))–\(Int(result.max)))")
        results.append(result)
      }
      if let one = results.first(where: { $0.name == "meta_train_threads1" }),
        let two = results.first(where: { $0.name == "meta_train_threads2" })
      {
        print(
          String(format: "meta-training speedup, 2 threads over 1: %.2f×", two.median / one.median))
      }
    }
    if peerMetaConfig != "none" {
      var result = try measureMetaTraining(peerMetaConfig, threads: 1)
      result.name = "meta_train_peer_workload"
      print(
        "meta-training, learned_optimization's truncated-ES workload (\(peerMetaConfig), 1 thread): "
          + "\(Int(result.median)) inner steps/s (\(Int(result.min))–\(Int(result.max))); "
          + String(
            format: "%.1f× the peer's %d (RESULTS.md §iv, not measured in this run)",
            result.median / Self.peerTruncatedESRate, Int(Self.peerTruncatedESRate)))
      results.append(result)
    }
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(Array(try encoder.encode(results)), to: URL(fileURLWithPath: json))
    }
  }

  /// Times `workload` in blocks: the block length is calibrated to about `blockSeconds`.
  private func measure(_ workload: BenchWorkload) throws -> BenchResult {
    let task = try workload.makeTask()
    let adam = Adam(learningRate: 1e-3)
    var run = TrainingRun<Adam.State>(
      task: task, parameters: task.initialParameters(key: RandomKey(seed: 0)), length: 0)
    var diverged = false
    let rates = timedBlocks {
      do { try run.advance(steps: 1, with: adam) } catch { diverged = true }
    }
    guard !diverged else { throw ValidationError("\(workload.name) diverged while timed") }
    return BenchResult(
      name: workload.name, median: rates.median, min: rates.min, max: rates.max,
      stepsPerBlock: rates.count, repeats: repeats, unit: "steps/s")
  }
}

extension Bench {
  /// learned_optimization's truncated-ES throughput with MLPLOpt on one thread of this kind of
  /// machine (inner steps/s, ../shared/peers RESULTS.md §iv).
  static let peerTruncatedESRate = 3218.0

  /// Inner steps per second of meta-training on the configuration at `path` with `threads`
  /// threads, over the outer steps of `repeats` runs (after one warm-up run), each in a fresh
  /// temporary run directory: two outer steps of 100-step episodes for FullES, 20 outer steps
  /// of the configured truncations otherwise.
  private func measureMetaTraining(_ path: String, threads: Int) throws -> BenchResult {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ValidationError("cannot read '\(path)' (run from the repository)")
    }
    var configuration = try MetaTrainingConfiguration(yaml: String(decoding: data, as: UTF8.self))
    if configuration.estimator.kind.isTruncated {
      configuration.outer.steps = 20
    } else {
      configuration.truncation = TruncationSchedule(kind: .constant, length: 100)
      configuration.outer.steps = 2
    }
    configuration.evaluation = .init(every: 0, tasks: [], steps: 1, seeds: 1)
    configuration.threads = threads
    configuration.checkpointSeconds = 1e9
    func once() throws -> Double {
      let folder = FileManager.default.temporaryDirectory
        .appendingPathComponent("lopt-bench-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: folder) }
      let total = Totals()
      _ = try metaTrain(
        configuration, directory: RunDirectory(url: folder), resume: false,
        observer: MetaTrainingObserver(didStep: { total.add($0.innerSteps, $0.seconds) }))
      return total.rate
    }
    _ = try once()
    let rates = try (0..<repeats).map { _ in try once() }.sorted()
    return BenchResult(
      name: "meta_train_threads\(threads)", median: rates[rates.count / 2], min: rates.first!,
      max: rates.last!, stepsPerBlock: 0, repeats: repeats, unit: "inner steps/s")
  }
}

/// Inner steps and seconds summed over outer steps (reported from the run's thread).
private final class Totals: @unchecked Sendable {
  private let lock = NSLock()
  private var steps = 0
  private var seconds = 0.0
  func add(_ innerSteps: Int, _ elapsed: Double) {
    lock.withLock {
      steps += innerSteps
      seconds += elapsed
    }
  }
  var rate: Double { lock.withLock { seconds > 0 ? Double(steps) / seconds : 0 } }
}

/// A reference training workload of `lopt bench` (the JAX peer's `mlp_small` and `mlp_large`).
struct BenchWorkload {
  let name: String
  let widths: [Int]
  let batchSize = 128

  static let all = [
    BenchWorkload(name: "mlp_small", widths: [64, 32, 10]),
    BenchWorkload(name: "mlp_large", widths: [784, 256, 256, 10]),
  ]

  var widthsText: String { widths.map(String.init).joined(separator: "-") }

  func makeTask() throws -> MLPClassifier<SyntheticBatchSampler> {
    try MLPClassifier(
      exampleShape: [widths[0]], classCount: widths.last!,
      hiddenWidths: Array(widths.dropFirst().dropLast()), batchSize: batchSize,
      training: SyntheticBatchSampler(
        exampleShape: [widths[0]], classCount: widths.last!, batchSize: batchSize,
        key: RandomKey(seed: 1)))
  }
}

/// One workload's measurement: the median, smallest and largest block, in `unit` (training
/// steps per second, or microseconds per optimizer update).
struct BenchResult: Codable {
  var name: String
  var median: Double
  var min: Double
  var max: Double
  var stepsPerBlock: Int
  var repeats: Int
  var unit: String
}
