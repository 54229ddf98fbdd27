import Foundation
import LoptCore
import LoptLearned
import LoptTasks
import LoptTestSupport
import LoptTraining
import Testing

@testable import LoptMeta

/// Run directories and configurations a careless or hostile user could produce: edited state
/// checkpoints, two writers, hostile sizes.
@Suite struct HostileRunDirectoryTests {
  /// A state checkpoint of a four-element θ.
  static func state(
    step: Int = 3, coreSeconds: Double = 12, theta values: [Float] = [1, 2, 3, 4]
  ) -> RunCheckpoint {
    let layout = ParameterLayout([("w", [4])])
    return RunCheckpoint(
      theta: ParameterSet(layout: layout, flat: Tensor(shape: [4], scalars: values)),
      outer: OuterOptimizer(settings: OuterSettings(), layout: layout), step: step,
      coreSeconds: coreSeconds, configurationHash: 42)
  }

  static func read(_ file: SafetensorsFile) throws -> RunCheckpoint {
    try RunCheckpoint(file: SafetensorsFile(bytes: file.serialized()), like: state(step: 0))
  }

  @Test func aStateCheckpointRoundTrips() throws {
    let read = try Self.read(Self.state().file())
    #expect(read.step == 3 && read.coreSeconds == 12 && read.theta == Self.state().theta)
  }

  @Test func editedMetadataFailsTheChecksum() throws {
    for (key, value) in [("step", "1"), ("core_seconds", "nan"), ("configuration_hash", "43")] {
      var file = Self.state().file()
      file.metadata[key] = value
      #expect(throws: RunCheckpointError.checksumMismatch, "\(key)") { try Self.read(file) }
    }
  }

  @Test func aFileWithoutAChecksumVersionIsCheckedAsBefore() throws {
    var file = Self.state().file()
    file.metadata["checksum_version"] = nil
    file.metadata["checksum"] = String(RunCheckpoint.checksum(file))
    #expect(try Self.read(file).step == 3)
    file.metadata["step"] = "-5"
    #expect(throws: RunCheckpointError.invalidValue("step is -5")) { try Self.read(file) }
  }

  @Test func negativeStepsNaNCoreSecondsAndNonFiniteThetaAreRefused() {
    #expect(throws: RunCheckpointError.invalidValue("step is -5")) {
      try Self.read(Self.state(step: -5).file())
    }
    #expect(throws: RunCheckpointError.invalidValue("core_seconds is nan")) {
      try Self.read(Self.state(coreSeconds: .nan).file())
    }
    #expect(throws: RunCheckpointError.invalidValue("θ has NaN or infinite elements")) {
      try Self.read(Self.state(theta: [1, .nan, 3, 4]).file())
    }
  }

  @Test func aCheckpointWhoseStepDisagreesWithItsNameIsSkipped() throws {
    let directory = MetaTrainingRunTests.temporaryDirectory()
    try directory.create()
    defer { try? FileManager.default.removeItem(at: directory.url) }
    try Self.state(step: 2).file().write(to: directory.stateURL(step: 2))
    try Self.state(step: 2).file().write(to: directory.stateURL(step: 7))
    var warnings: [String] = []
    let found = directory.latestCheckpoint(like: Self.state(step: 0)) { warnings.append($0) }
    #expect(found?.step == 2)
    #expect(warnings.count == 1)
    #expect(warnings.first?.contains("records step 2, its name step 7") == true)
  }

  @Test func aSecondWriterIsRefusedNamingTheFirst() throws {
    let directory = MetaTrainingRunTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory.url) }
    do {
      let held = try directory.lock()
      let pid = "\(ProcessInfo.processInfo.processIdentifier)"
      #expect(throws: MetaTrainingError.runDirectoryBusy(directory.url.path, holder: pid)) {
        try metaTrain(MetaTrainingRunTests.configuration(), directory: directory, resume: false)
      }
      #expect(directory.checkpointSteps().isEmpty)
      withExtendedLifetime(held) {}
    }
    // Released with its value: the directory can be locked again.
    _ = try directory.lock()
  }

  @Test(arguments: [
    ("estimator: {pairs: 1000000000}", "estimator.pairs"),
    ("evaluation: {seeds: 1000000000}", "evaluation.seeds"),
    ("evaluation: {steps: 1000000000}", "evaluation.steps"),
    ("outer: {steps: 9223372036854775807}", "outer.steps"),
    ("truncation: {kind: constant, length: 1000000000}", "truncation.length"),
    ("learnedOptimizer: {kind: mlp_lopt, mlpLOpt: {hiddenSize: -1}}", "hiddenSize is -1"),
    (
      "learnedOptimizer: {kind: velo, velo: {lstmHiddenSize: 4611686018427387904}}",
      "lstmHiddenSize is 4611686018427387904"
    ),
    (
      "learnedOptimizer: {kind: adafac_mlp, adafacMLP: {hiddenLayers: 1000000000}}",
      "hiddenLayers is 1000000000"
    ),
  ])
  func hostileSizesInAConfigurationAreNamed(yaml: String, named: String) {
    let error = #expect(throws: MetaTrainingError.self) {
      try MetaTrainingConfiguration(yaml: yaml)
    }
    #expect(error?.description.contains(named) == true, "\(String(describing: error))")
  }

  /// 3,000 mutations of a meta-training configuration (half its bytes, half its values):
  /// reading only throws `TaskSpecError` or `MetaTrainingError`.
  @Test func fuzzedConfigurationsOnlyThrow() throws {
    let yaml =
      MetaTrainingRunTests.tinyYAML + """

        evaluation: {every: 0, steps: 5, seeds: 1, grid: [0.001, 0.01]}
        families: {slots: 2}
        """
    let seedYAML = yaml.replacingOccurrences(
      of: "evaluation: {every: 0, steps: 5, seeds: 1}\n", with: "")
    let document = try #require(try StrictYAML.object(from: seedYAML))
    var mutator = Mutator(
      seed: 5, tokens: ["-1", "0", "1e9", "9223372036854775807", "&a", "*a", ": ", "\n- ", "{"])
    var (read, failed) = (0, 0)
    for round in 0..<3000 {
      let text: String
      if round % 2 == 0 {
        text = String(decoding: mutator.mutate(Array(seedYAML.utf8)), as: UTF8.self)
      } else {
        let json = try JSONSerialization.data(
          withJSONObject: mutator.mutateValues(document), options: .fragmentsAllowed)
        text = String(decoding: json, as: UTF8.self)  // JSON is YAML
      }
      do {
        _ = try MetaTrainingConfiguration(yaml: text)
        read += 1
      } catch is TaskSpecError {
        failed += 1
      } catch is MetaTrainingError {
        failed += 1
      }
    }
    #expect(read + failed == 3000)
    #expect(read > 30 && failed > 1000, "read \(read), failed \(failed)")
  }
}
