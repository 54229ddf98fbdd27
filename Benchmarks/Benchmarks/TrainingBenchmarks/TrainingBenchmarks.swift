import Benchmark
import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks

/// One training step (forward, backward, Adam) of the reference MLPs on random data; the
/// malloc count proves a steady-state step allocates nothing.
let benchmarks: @Sendable () -> Void = {
  BLAS.useSingleThread()
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .mallocCountTotal],
    warmupIterations: 10, maxDuration: .seconds(2))

  for widths in [[64, 32, 10], [784, 256, 256, 10]] {
    let name = "MLP \(widths.map(String.init).joined(separator: "-")) batch 128 Adam step"
    Benchmark(name) { benchmark in
      let task = try MLPClassifier(
        exampleShape: [widths[0]], classCount: widths.last!,
        hiddenWidths: Array(widths.dropFirst().dropLast()), batchSize: 128,
        training: SyntheticBatchSampler(
          exampleShape: [widths[0]], classCount: widths.last!, batchSize: 128,
          key: RandomKey(seed: 1)))
      var parameters = task.initialParameters(key: RandomKey(seed: 0))
      var gradients = parameters.zerosLike()
      let adam = Adam(learningRate: 1e-3)
      var state = adam.makeState(for: parameters, totalSteps: 0)
      // Settle every buffer before measuring.
      for step in 0..<3 {
        let loss = task.lossAndGradient(parameters, step: step, into: &gradients)
        adam.update(&parameters, gradients: gradients, loss: loss, state: &state)
      }
      benchmark.startMeasurement()
      for step in benchmark.scaledIterations {
        let loss = task.lossAndGradient(parameters, step: step, into: &gradients)
        adam.update(&parameters, gradients: gradients, loss: loss, state: &state)
      }
      benchmark.stopMeasurement()
      blackHole(parameters)
    }
  }
}
