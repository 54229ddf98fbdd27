import Foundation
import LoptCore
import LoptLearned
import LoptMeta
import Testing

@testable import LoptCLI

/// `lopt meta-train` as a user runs it: a process killed with SIGKILL resumes to exactly the θ
/// an uninterrupted run reaches.
@Suite(.timeLimit(.minutes(2))) struct MetaTrainCommandTests {
  static let configuration = """
    learnedOptimizer: {kind: adafac_mlp}
    tasks: {list: [{task: mlp-fashion8-relu32}]}
    estimator: {pairs: 2, recomputeBatches: 2}
    truncation: {kind: constant, length: 3}
    outer: {steps: 100000, learningRate: 0.01}
    evaluation: {every: 0, steps: 3, seeds: 1}
    threads: 1
    checkpointSeconds: 0.000001
    """

  @Test func evaluationsWithSpeedupsGetTheirOwnChart() throws {
    let run = RunDirectory(
      url: FileManager.default.temporaryDirectory.appendingPathComponent(
        "lopt-plot-\(UUID().uuidString)"))
    try run.create()
    defer { try? FileManager.default.removeItem(at: run.url) }
    let speedups =
      #"{"count":2,"fractionFaster":1,"iqm":2,"mean":2.5,"median":2.25,"p25":2,"p5":2,"p75":3,"p95":3}"#
    try """
    {"kind":"evaluation","step":0,"meanLoss":1,"divergedRuns":0,"taskLosses":[1],"speedups":\(speedups)}
    {"metaLoss":0.5,"step":1}
    {"kind":"evaluation","step":1,"meanLoss":0.9,"divergedRuns":0,"taskLosses":[0.9]}
    """.write(to: run.metricsURL, atomically: true, encoding: .utf8)
    try MetaTrainingPlot.write(for: run)
    let chart = try String(
      contentsOf: run.url.appendingPathComponent(MetaTrainingPlot.speedupFileName), encoding: .utf8)
    #expect(chart.contains("speedup over tuned Adam") && chart.contains("median"))
    try "{\"metaLoss\":0.5,\"step\":1}\n".write(
      to: run.metricsURL, atomically: true, encoding: .utf8)
    try FileManager.default.removeItem(
      at: run.url.appendingPathComponent(MetaTrainingPlot.speedupFileName))
    try MetaTrainingPlot.write(for: run)
    #expect(
      !FileManager.default.fileExists(
        atPath: run.url.appendingPathComponent(MetaTrainingPlot.speedupFileName).path))
  }

  @Test func resumesAfterKillMinus9ToTheUninterruptedTheta() throws {
    try #require(FileManager.default.isExecutableFile(atPath: LoptBinaryTests.binary.path))
    let folder = FileManager.default.temporaryDirectory
      .appendingPathComponent("lopt-kill-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let config = folder.appendingPathComponent("tiny.yaml")
    try Self.configuration.write(to: config, atomically: true, encoding: .utf8)
    let run = RunDirectory(url: folder.appendingPathComponent("run"))

    let process = Process()
    process.executableURL = LoptBinaryTests.binary
    process.arguments = ["meta-train", config.path, "--out", run.url.path]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while (run.checkpointSteps().first ?? 0) < 3 && Date() < deadline && process.isRunning {
      Thread.sleep(forTimeInterval: 0.02)
    }
    // A second writer is refused while the first runs, naming it (two writers would leave θ
    // of one run beside the configuration and metrics of the other).
    let second = try LoptBinaryTests.run(["meta-train", config.path, "--out", run.url.path])
    let holder = "process \(process.processIdentifier)"
    #expect(second.status != 0 && second.error.contains(holder), "\(second.error)")
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(process.terminationReason == .uncaughtSignal)
    let reached = try #require(run.checkpointSteps().first)
    #expect(reached >= 3)

    let target = reached + 2
    let resumed = try LoptBinaryTests.run([
      "meta-train", "--resume", "--out", run.url.path, "--outer-steps", "\(target)",
    ])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("finished after \(target) outer steps"))

    var uninterrupted = try MetaTrainingConfiguration(yaml: Self.configuration)
    uninterrupted.outer.steps = target
    uninterrupted.checkpointSeconds = 1000
    let reference = try metaTrain(
      uninterrupted, directory: RunDirectory(url: folder.appendingPathComponent("reference")),
      resume: false)
    #expect(try Checkpoint.load(run.optimizerURL).metaParameters.flat == reference.theta.flat)
  }
}
