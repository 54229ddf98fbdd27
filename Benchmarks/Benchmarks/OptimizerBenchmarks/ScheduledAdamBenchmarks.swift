import Benchmark
import LoptCore
import LoptLearned

/// ScheduledAdamLOpt at θ₀ (Adam with the schedule and the per-tensor controller; the residual
/// is inactive), one update per iteration, at about 1e4 and 1e6 parameters.
func scheduledAdamBenchmarks() {
  let theta = ScheduledAdamLOpt.initialMetaParameters(for: .init(), key: RandomKey(seed: 0))
  guard let optimizer = try? ScheduledAdamLOpt(configuration: .init(), metaParameters: theta)
  else { preconditionFailure("θ₀ of the default configuration is valid") }
  for model in models where !model.name.hasPrefix("1e5") {
    let layout = ParameterLayout(model.tensors)
    Benchmark("ScheduledAdamLOpt update, \(model.name)") { benchmark in
      var (parameters, gradients) = inputs(layout)
      var state = optimizer.makeState(for: parameters, totalSteps: 1_000_000)
      optimizer.update(&parameters, gradients: gradients, loss: 1, state: &state)
      benchmark.startMeasurement()
      for _ in benchmark.scaledIterations {
        optimizer.update(&parameters, gradients: gradients, loss: 1, state: &state)
      }
      benchmark.stopMeasurement()
      blackHole(parameters)
    }
  }
}
