// swift-tools-version: 6.2
import PackageDescription

// MARK: - Settings for our own targets

let strict: [SwiftSetting] = [
  .treatAllWarnings(as: .error),
  .enableUpcomingFeature("MemberImportVisibility"),
]

/// The BLAS provider: OpenBLAS through `CBLAS` on Linux, Accelerate on Apple platforms.
let blas: [Target.Dependency] = [.target(name: "CBLAS", condition: .when(platforms: [.linux]))]

let package = Package(
  name: "Lopt",
  platforms: [.macOS(.v14)],
  // MARK: - Public API
  products: [
    .executable(name: "lopt", targets: ["lopt"]),
    .library(name: "LoptCore", targets: ["LoptCore"]),
    .library(name: "LoptNN", targets: ["LoptNN"]),
    .library(name: "LoptData", targets: ["LoptData"]),
    .library(name: "LoptOptimizers", targets: ["LoptOptimizers"]),
    .library(name: "LoptTasks", targets: ["LoptTasks"]),
    .library(name: "LoptLearned", targets: ["LoptLearned"]),
    .library(name: "LoptMeta", targets: ["LoptMeta"]),
    .library(name: "LoptEval", targets: ["LoptEval"]),
    .library(name: "LoptCLI", targets: ["LoptCLI"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // MARK: - System libraries and C shims
    .systemLibrary(
      name: "CBLAS",
      providers: [.apt(["libopenblas-dev"])]
    ),
    .systemLibrary(
      name: "CZlib",
      providers: [.apt(["zlib1g-dev"])]
    ),
    .target(name: "CLoptShims"),
    // The learned optimizers' C kernels (LoptLearned only).
    .target(name: "CLoptKernels", dependencies: ["CLoptShims"]),
    // Open MPI's declarations only; LoptMeta loads libmpi with dlopen (MPIExchange.swift).
    .systemLibrary(name: "CMPI"),

    // MARK: - Libraries
    .target(
      name: "LoptCore",
      dependencies: blas + ["CLoptShims"],
      swiftSettings: strict
    ),
    .target(
      name: "LoptNN",
      dependencies: [
        "LoptCore", "CLoptShims", .product(name: "RealModule", package: "swift-numerics"),
      ],
      swiftSettings: strict
    ),
    .target(
      name: "LoptData",
      dependencies: ["LoptCore", "CZlib"],
      resources: [.copy("Resources")],
      swiftSettings: strict
    ),
    .target(
      name: "LoptOptimizers",
      dependencies: ["LoptCore", "CLoptShims"],
      swiftSettings: strict
    ),
    .target(
      name: "LoptTasks",
      dependencies: [
        "LoptCore", "LoptNN", "LoptData", .product(name: "Yams", package: "Yams"),
      ],
      swiftSettings: strict
    ),
    .target(
      name: "LoptTraining",
      dependencies: ["LoptCore", "LoptData", "LoptOptimizers", "LoptTasks"],
      swiftSettings: strict
    ),
    .target(
      name: "LoptLearned",
      dependencies: ["LoptCore", "LoptOptimizers", "CLoptShims", "CLoptKernels"],
      resources: [.copy("Resources")],
      swiftSettings: strict
    ),
    .target(
      name: "LoptMeta",
      dependencies: [
        "LoptCore", "LoptOptimizers", "LoptTasks", "LoptTraining", "LoptLearned", "LoptEval",
        "CMPI",
      ],
      swiftSettings: strict
    ),
    .target(
      name: "LoptEval",
      dependencies: ["LoptCore", "LoptOptimizers", "LoptTasks", "LoptTraining"],
      resources: [.copy("Resources")],
      swiftSettings: strict
    ),
    .target(
      name: "LoptCLI",
      dependencies: [
        "LoptCore", "LoptNN", "LoptData", "LoptOptimizers", "LoptTasks", "LoptTraining",
        "LoptLearned", "LoptMeta", "LoptEval",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict
    ),
    .executableTarget(
      name: "lopt",
      dependencies: [
        "LoptCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict
    ),

    // MARK: - Tests
    .target(
      name: "LoptTestSupport",
      dependencies: ["LoptCore", "LoptNN", "LoptOptimizers"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptCoreTests",
      dependencies: ["LoptCore", "LoptTestSupport"],
      resources: [.copy("Resources")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptNNTests",
      dependencies: ["LoptNN", "LoptTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptDataTests",
      dependencies: ["LoptData", "LoptTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptOptimizersTests",
      dependencies: ["LoptOptimizers", "LoptTestSupport"],
      resources: [.copy("Resources")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptTasksTests",
      dependencies: ["LoptTasks", "LoptTraining", "LoptTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptLearnedTests",
      dependencies: ["LoptLearned", "LoptTestSupport", "CLoptKernels"],
      resources: [.copy("Resources")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptMetaTests",
      dependencies: ["LoptMeta", "LoptEval", "LoptTraining", "LoptTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptEvalTests",
      dependencies: ["LoptEval", "LoptTraining", "LoptTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "LoptCLITests",
      dependencies: ["LoptCLI", "LoptData", "LoptTraining", "LoptTestSupport"],
      swiftSettings: strict
    ),
  ]
)

// The documentation plugin only when building the docs (`make docs`), so ordinary builds and CI
// test runs do not resolve it.
if Context.environment["LOPT_BUILD_DOC"] == "1" {
  package.dependencies.append(
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}
