import Foundation
import LoptData
import LoptOptimizers
import LoptTasks
import LoptTestSupport
import Testing

@testable import LoptEval

/// Suites, caches and curves a careless or hostile user could produce.
@Suite struct HostileEvaluationTests {
  @Test(arguments: [
    [1e20, 1e20, 1e20], [-1e30, -1e30], [1e300, 1e300], [-1e30, 1e30], [-1.7e308, 1.7e308],
    [3, 3, 3], [0, 0],
  ])
  func flatAndExtremeCurvesRenderWithTicks(values: [Double]) {
    let points = values.enumerated().map { (x: Double($0.offset), y: $0.element) }
    let svg = SVGPlot(
      title: "t", xLabel: "step", yLabel: "loss", series: [.init(name: "a", points: points)]
    ).render()
    #expect(svg.hasSuffix("</svg>\n"))
    #expect(svg.components(separatedBy: "<polyline").count == 2)
  }

  @Test func aFlatCurveFarFromZeroIsLabelledWithItsValue() {
    let points = (0..<5).map { (x: Double($0), y: 1e20) }
    let svg = SVGPlot(
      title: "t", xLabel: "x", yLabel: "y", series: [.init(name: "a", points: points)],
      isLogY: false
    ).render()
    #expect(svg.contains(">1e+20<"), "\(svg)")
  }

  @Test func aForcedLogAxisWithinOnePowerOfTwoRenders() {
    let points = (0..<5).map { (x: Double($0), y: 1.1 + 0.01 * Double($0)) }
    let svg = SVGPlot(
      title: "t", xLabel: "x", yLabel: "y", series: [.init(name: "a", points: points)],
      isLogY: true, yLogBase: 2
    ).render()
    #expect(svg.hasSuffix("</svg>\n"))
  }

  /// A data folder holding the shipped digits files, the training images changed in one byte
  /// when `changed`.
  static func digitsCopy(changed: Bool) throws -> URL {
    let shipped = try #require(DataLocator.shippedDirectory)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-digits-\(UUID().uuidString)")
    for path in ImageDatasetName.digits.relativePaths {
      var bytes = try Data(contentsOf: shipped.appendingPathComponent(path))
      if changed && path.contains("train-images") { bytes[bytes.count / 2] ^= 1 }
      let url = folder.appendingPathComponent(path)
      try FileManager.default.createDirectory(
        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try bytes.write(to: url)
    }
    return folder
  }

  @Test func runKeysFollowTheDataNotTheFolder() throws {
    let (same, changed) = (try Self.digitsCopy(changed: false), try Self.digitsCopy(changed: true))
    defer {
      for folder in [same, changed] { try? FileManager.default.removeItem(at: folder) }
    }
    func keys(_ directory: URL?) -> Set<String> {
      let evaluation = Evaluation(
        suite: SpeedupTests.tinySuite, optimizers: [SpeedupTests.adam()],
        baselines: [SpeedupTests.adam()], steps: 4, seeds: 1, learningRates: [0.1],
        locator: DataLocator(directory: directory?.path, environment: [:]))
      return Set(evaluation.keys.map(\.task))
    }
    let shipped = keys(nil)
    #expect(keys(same) == shipped)
    #expect(keys(changed).isDisjoint(with: shipped))
    #expect(shipped.allSatisfy { $0.contains("digits/train-images-8x8-idx3-ubyte.gz ") })
  }

  @Test func inconsistentCachedRecordsAreRecomputed() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-cache-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = try RunCache(directory: directory)
    let key = RunKey(task: "t", optimizer: "adam", learningRate: 0.1, seed: 0, steps: 3)
    for (losses, diverged) in [
      ([Float](), nil), ([1, 2], nil), ([1, 2, 3, 4], nil), ([], 3), ([], -1),
    ] as [([Float], Int?)] {
      try cache.store(RunRecord(key: key, losses: losses, divergedAtStep: diverged, seconds: 0))
      #expect(cache.record(for: key) == nil, "\(losses) \(String(describing: diverged))")
    }
    try cache.store(RunRecord(key: key, losses: [], divergedAtStep: 2, seconds: 0))
    #expect(cache.record(for: key)?.divergedAtStep == 2)
  }

  @Test func suiteTaskNamesAreEscapedInTheReport() {
    let escaped = EvaluationReport.escaped("a|b <img src=x> *c*\n# d")
    #expect(escaped == ##"a\|b \<img src=x\> \*c\* \# d"##)
    #expect(EvaluationReport.escaped("mlp-digits") == "mlp-digits")
  }

  @Test func anAliasBombSuiteFailsAtOnce() {
    var yaml = "a0: &a0 [l,l,l,l,l,l,l,l,l]\n"
    for level in 1...12 {
      yaml +=
        "a\(level): &a\(level) ["
        + Array(repeating: "*a\(level - 1)", count: 9)
        .joined(separator: ",") + "]\n"
    }
    yaml += "tasks:\n  - task: ae-mnist8\n"
    let error = #expect(throws: SuiteError.self) {
      try EvaluationSuite(yaml: yaml, name: "bomb.yaml")
    }
    #expect(error?.description.contains("aliases") == true, "\(String(describing: error))")
  }

  /// 3,000 mutations of the built-in suites (half their bytes, half their values): reading only
  /// throws `SuiteError`.
  @Test func fuzzedSuitesOnlyThrow() throws {
    let texts = try EvaluationSuite.builtInNames.map { name in
      let folder = try #require(EvaluationSuite.shippedDirectory)
      return try String(
        contentsOf: folder.appendingPathComponent(name + ".yaml"), encoding: .utf8)
    }
    let documents = try texts.map { try #require(try StrictYAML.object(from: $0)) }
    var mutator = Mutator(
      seed: 3, tokens: ["-1", "0", "1e9", "9223372036854775807", "*a", "&a ", "\n- ", ": ", "{"])
    var (read, failed) = (0, 0)
    for round in 0..<3000 {
      let text: String
      if round % 2 == 0 {
        text = String(
          decoding: mutator.mutate(Array(texts[round % texts.count].utf8)), as: UTF8.self)
      } else {
        let json = try JSONSerialization.data(
          withJSONObject: mutator.mutateValues(documents[round % documents.count]),
          options: .fragmentsAllowed)
        text = String(decoding: json, as: UTF8.self)
      }
      do {
        _ = try EvaluationSuite(yaml: text, name: "fuzz")
        read += 1
      } catch is SuiteError {
        failed += 1
      }
    }
    #expect(read + failed == 3000)
    #expect(read > 30 && failed > 1000, "read \(read), failed \(failed)")
  }
}
