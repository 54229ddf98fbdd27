import Benchmark
import LoptCore

/// One optimizer update at several sizes: VeLO next to Adam, ScheduledAdamLOpt, AdafacMLP and
/// MLPLOpt, with allocation counts.
let benchmarks: @Sendable () -> Void = {
  BLAS.useSingleThread()
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .mallocCountTotal], warmupIterations: 3,
    maxDuration: .seconds(2), maxIterations: 1_000)
  veloBenchmarks()
  smallLearnedOptimizerBenchmarks()
}
