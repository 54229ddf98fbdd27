import Benchmark
import LoptCore
import LoptLearned
import LoptOptimizers

/// The model-like mixes: blocks of `[d, 4d]`, `[4d]`, `[4d, d]`, `[d]`, `[d]` (an MLP block
/// with a layer norm), so most tensors are small and the per-tensor LSTM matters.
private func modelMix(width d: Int, blocks: Int) -> [(name: String, shape: [Int])] {
  (0..<blocks).flatMap { i -> [(name: String, shape: [Int])] in
    [
      ("block\(i)/up/w", [d, 4 * d]), ("block\(i)/up/b", [4 * d]),
      ("block\(i)/down/w", [4 * d, d]),
      ("block\(i)/down/b", [d]), ("block\(i)/norm/scale", [d]),
    ]
  }
}

/// The benchmarked models: one tensor and a mix of many tensors at about 1e4, 1e5, 1e6
/// parameters.
let models: [(name: String, tensors: [(name: String, shape: [Int])])] = [
  ("1e4, one tensor [100, 100]", [("w", [100, 100])]),
  ("1e5, one tensor [250, 400]", [("w", [250, 400])]),
  ("1e6, one tensor [1000, 1000]", [("w", [1000, 1000])]),
  ("1e4, 25 tensors", modelMix(width: 16, blocks: 5)),
  ("1e5, 60 tensors", modelMix(width: 32, blocks: 12)),
  ("1e6, 150 tensors", modelMix(width: 64, blocks: 30)),
]

/// Random parameters (σ 0.1) and gradients (σ 0.01).
func inputs(_ layout: ParameterLayout) -> (ParameterSet, ParameterSet) {
  (
    ParameterSet(layout: layout, standardDeviation: 0.1, key: RandomKey(seed: 1)),
    ParameterSet(layout: layout, standardDeviation: 0.01, key: RandomKey(seed: 2))
  )
}

/// A benchmark of one `optimizer` update per iteration on random inputs in `layout`, after one
/// warm-up update (so the steady state, which must not allocate, is what is measured).
func updateBenchmark<O: Optimizer>(_ name: String, _ optimizer: O, layout: ParameterLayout) {
  Benchmark(name) { benchmark in
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

/// VeLO (the released sizes, random meta-parameters) and Adam, one update per iteration.
func veloBenchmarks() {
  let velo = VeLO(configuration: .init(), key: RandomKey(seed: 0))
  for model in models {
    let layout = ParameterLayout(model.tensors)
    updateBenchmark("VeLO update, \(model.name)", velo, layout: layout)
    updateBenchmark("Adam update, \(model.name)", Adam(), layout: layout)
  }
}
