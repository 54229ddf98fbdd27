import Foundation
import LoptCore
import LoptLearned
import LoptOptimizers

/// One optimizer update of a single tensor, as the JAX peer's `opt_update` times it.
struct UpdateWorkload {
  /// The peer's sizes and layouts: a vector of `n` values and a matrix of the same count.
  static let all: [UpdateWorkload] = [100, 10_000, 100_000, 1_000_000].flatMap { n in
    let matrix = [
      100: [10, 10], 10_000: [100, 100], 100_000: [250, 400], 1_000_000: [1000, 1000],
    ]
    return [
      UpdateWorkload(count: n, layout: "1d", shape: [n]),
      UpdateWorkload(count: n, layout: "2d", shape: matrix[n]!),
    ]
  }

  let count: Int
  let layout: String
  let shape: [Int]

  /// Random parameters (σ 0.1) and gradients (σ 0.01), as the peer draws them.
  func inputs() -> (ParameterSet, ParameterSet) {
    let layout = ParameterLayout([("w", shape)])
    let parameters = ParameterSet(layout: layout, standardDeviation: 0.1, key: RandomKey(seed: 1))
    let gradients = ParameterSet(layout: layout, standardDeviation: 0.01, key: RandomKey(seed: 2))
    return (parameters, gradients)
  }
}

extension Bench {
  /// Microseconds per update of VeLO (the released sizes, random meta-parameters, 1e6 planned
  /// steps) and Adam for every ``UpdateWorkload``, and of ScheduledAdamLOpt at θ₀ (Adam with the
  /// schedule and the controller; the residual is inactive), AdafacMLP and MLPLOpt (default
  /// sizes, random meta-parameters) at 1e4 and 1e6 parameters, and of Muon and ScheduledAdamLOpt
  /// with Muon's direction at θ₀ at 1e4 and 1e5 (their Newton–Schulz products grow as n^1.5), in
  /// blocks of about `blockSeconds`.
  func measureUpdates() -> [BenchResult] {
    let velo = VeLO(configuration: .init(), key: RandomKey(seed: 0))
    let theta = ScheduledAdamLOpt.initialMetaParameters(for: .init(), key: RandomKey(seed: 0))
    guard let scheduledAdam = try? ScheduledAdamLOpt(configuration: .init(), metaParameters: theta),
      let adafacMLP = try? AdafacMLP(
        configuration: .init(),
        metaParameters: AdafacMLP.initialMetaParameters(for: .init(), key: RandomKey(seed: 0))),
      let mlpLOpt = try? MLPLOpt(
        configuration: .init(),
        metaParameters: MLPLOpt.initialMetaParameters(for: .init(), key: RandomKey(seed: 0))),
      let scheduledOrthogonal = try? ScheduledAdamLOpt(
        configuration: Self.orthogonalConfiguration,
        metaParameters: ScheduledAdamLOpt.initialMetaParameters(
          for: Self.orthogonalConfiguration, key: RandomKey(seed: 0)))
    else { preconditionFailure("random meta-parameters of the default configurations are valid") }
    let labels = [
      "velo": "VeLO", "adam": "Adam", "scheduledadam": "ScheduledAdamLOpt",
      "adafacmlp": "AdafacMLP", "mlplopt": "MLPLOpt", "muon": "Muon",
      "scheduledorthogonal": "ScheduledAdamLOpt (Muon's direction)",
    ]
    let optimizers: [String: any Optimizer] = [
      "velo": velo, "adam": Adam(learningRate: 1e-3), "scheduledadam": scheduledAdam,
      "adafacmlp": adafacMLP, "mlplopt": mlpLOpt, "muon": Muon(learningRate: 0.02),
      "scheduledorthogonal": scheduledOrthogonal,
    ]
    // Flops per parameter of the reference computation (the MLP's multiply-adds and the
    // features), for the fraction of a ~100 GFLOP/s core's floor.
    let adafacFlops: Double = 2 * (39 * 4 + 4 * 4 + 4 * 2) + 60
    let mlpFlops: Double = 2 * (19 * 32 + 32 * 32 + 32 * 2) + 20
    let flops = ["adafacmlp": adafacFlops, "mlplopt": mlpFlops]
    var results: [BenchResult] = []
    for workload in UpdateWorkload.all {
      let names =
        ["velo", "adam"]
        + ([10_000, 1_000_000].contains(workload.count)
          ? ["scheduledadam", "adafacmlp", "mlplopt"] : [])
        + ([10_000, 100_000].contains(workload.count) ? ["muon", "scheduledorthogonal"] : [])
      for name in names {
        let (parameters, gradients) = workload.inputs()
        let update = Self.repeatedUpdate(optimizers[name]!, parameters, gradients)
        let rates = timedBlocks(update)
        // Rates (updates/s) become microseconds per update: the fastest rate is the minimum time.
        let result = BenchResult(
          name: "opt_update_\(name)_\(workload.count)_\(workload.layout)",
          median: 1e6 / rates.median, min: 1e6 / rates.max, max: 1e6 / rates.min,
          stepsPerBlock: rates.count, repeats: repeats, unit: "us")
        let perParameter = result.median * 1e3 / Double(workload.count)
        let floor = flops[name].map {
          String(format: ", %.1f× the %.1f ns compute floor", perParameter / ($0 / 100), $0 / 100)
        }
        print(
          "\(labels[name]!) update, \(workload.count) parameters "
            + "\(workload.shape): \(String(format: "%.1f µs (%.2f ns per parameter)", result.median, perParameter))"
            + (floor ?? ""))
        results.append(result)
      }
    }
    return results
  }

  /// A closure that applies one update of `optimizer` (planned for 10⁶ steps) to its own copy of
  /// `parameters` each time it is called.
  static func repeatedUpdate<O: Optimizer>(
    _ optimizer: O, _ parameters: ParameterSet, _ gradients: ParameterSet
  ) -> () -> Void {
    var parameters = parameters
    var state = optimizer.makeState(for: parameters, totalSteps: 1_000_000)
    return { optimizer.update(&parameters, gradients: gradients, loss: 1, state: &state) }
  }

  /// ScheduledAdamLOpt with Muon's direction and no residual, as `configs/scheduled-orthogonal.yaml`.
  static let orthogonalConfiguration = ScheduledAdamLOpt.Configuration(
    initialLearningRate: 0.02, residualHiddenSize: 0, residualHiddenLayers: 0,
    matrixDirection: .orthogonalized)

  /// Runs `body` in `repeats` blocks of about `blockSeconds` (the block length calibrated after
  /// a warm-up): the median, smallest and largest rate per second, and the block length.
  func timedBlocks(_ body: () -> Void) -> (median: Double, min: Double, max: Double, count: Int) {
    func run(_ count: Int) -> Double {
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<count { body() }
      return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    _ = run(3)
    var count = 1
    var elapsed = run(count)
    while elapsed < blockSeconds / 4 && count < 1 << 22 {
      count *= 2
      elapsed = run(count)
    }
    count = max(1, Int(Double(count) * blockSeconds / max(elapsed, 1e-9)))
    let rates = (0..<repeats).map { _ in Double(count) / run(count) }.sorted()
    return (rates[rates.count / 2], rates.first!, rates.last!, count)
  }
}
