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
