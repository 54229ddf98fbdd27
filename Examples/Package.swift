// swift-tools-version: 6.2
import PackageDescription

// Lopt used as a dependency: a program with its own model that trains it with Lopt's
// optimizers. `make test` builds and runs it; in your own package, depend on Lopt by its URL.
let package = Package(
  name: "LoptExamples",
  platforms: [.macOS(.v14)],
  dependencies: [.package(name: "Lopt", path: "..")],
  targets: [
    .executableTarget(
      name: "FitACurve",
      dependencies: [
        .product(name: "LoptCore", package: "Lopt"),
        .product(name: "LoptOptimizers", package: "Lopt"),
        .product(name: "LoptLearned", package: "Lopt"),
      ]
    )
  ]
)
