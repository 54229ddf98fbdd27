import Benchmark
import LoptCore

/// Kernels under the training step: the GEMM shapes of the reference MLPs (optimizer updates
/// are in OptimizerBenchmarks).
let benchmarks: @Sendable () -> Void = {
  BLAS.useSingleThread()
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .mallocCountTotal], warmupIterations: 10, maxDuration: .seconds(1))

  for (m, n, k) in [(128, 32, 64), (128, 256, 784), (784, 256, 128)] {
    Benchmark("sgemm \(m)x\(k) · \(k)x\(n)") { benchmark in
      let a = Tensor(shape: [m, k], repeating: 0.5)
      let b = Tensor(shape: [k, n], repeating: 0.25)
      var c = Tensor(shape: [m, n])
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          c.withUnsafeMutableBufferPointer { c in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
              BLAS.gemm(m: m, n: n, k: k, a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
            }
            benchmark.stopMeasurement()
          }
        }
      }
      blackHole(c)
    }
  }
}
