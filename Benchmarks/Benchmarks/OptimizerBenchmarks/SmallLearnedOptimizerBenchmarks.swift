import Benchmark
import LoptCore
import LoptLearned

/// ScheduledAdamLOpt at θ₀ (Adam with the schedule and the per-tensor controller; the residual
/// is inactive), AdafacMLP and MLPLOpt (default sizes, random meta-parameters), one update per
/// iteration, at about 1e4 and 1e6 parameters.
func smallLearnedOptimizerBenchmarks() {
  let key = RandomKey(seed: 0)
  guard
    let scheduledAdam = try? ScheduledAdamLOpt(
      configuration: .init(),
      metaParameters: ScheduledAdamLOpt.initialMetaParameters(for: .init(), key: key)),
    let adafacMLP = try? AdafacMLP(
      configuration: .init(),
      metaParameters: AdafacMLP.initialMetaParameters(for: .init(), key: key)),
    let mlpLOpt = try? MLPLOpt(
      configuration: .init(), metaParameters: MLPLOpt.initialMetaParameters(for: .init(), key: key))
  else { preconditionFailure("random meta-parameters of the default configurations are valid") }
  for model in models where !model.name.hasPrefix("1e5") {
    let layout = ParameterLayout(model.tensors)
    updateBenchmark("ScheduledAdamLOpt update, \(model.name)", scheduledAdam, layout: layout)
    updateBenchmark("AdafacMLP update, \(model.name)", adafacMLP, layout: layout)
    updateBenchmark("MLPLOpt update, \(model.name)", mlpLOpt, layout: layout)
  }
}
