// swift-tools-version: 6.2
import PackageDescription

// Lopt's benchmarks, kept out of the root package so `swift test` never builds their
// dependencies. Run with `make bench` from the repository root.
let package = Package(
  name: "LoptBenchmarks",
  platforms: [.macOS(.v14)],
  dependencies: [
    .package(name: "Lopt", path: ".."),
    .package(
      url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    .executableTarget(
      name: "TrainingBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "LoptCore", package: "Lopt"),
        .product(name: "LoptData", package: "Lopt"),
        .product(name: "LoptOptimizers", package: "Lopt"),
        .product(name: "LoptTasks", package: "Lopt"),
      ],
      path: "Benchmarks/TrainingBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    .executableTarget(
      name: "CoreBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "LoptCore", package: "Lopt"),
      ],
      path: "Benchmarks/CoreBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    .executableTarget(
      name: "OptimizerBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "LoptCore", package: "Lopt"),
        .product(name: "LoptOptimizers", package: "Lopt"),
        .product(name: "LoptLearned", package: "Lopt"),
      ],
      path: "Benchmarks/OptimizerBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
  ]
)
