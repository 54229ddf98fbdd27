import Foundation
import LoptCore
import LoptTestSupport
import Testing

@testable import LoptLearned

/// Checkpoints a careless or hostile user could hand over: each must fail with an error naming
/// the key or setting, never trap or allocate by a size taken from the file.
@Suite struct HostileCheckpointTests {
  static let adafacFixture = "small/adafac_mlp/default"

  /// The AdafacMLP fixture's msgpack tree with its `step` replaced by `step`.
  static func flaxTree(step: MessagePackValue) throws -> [UInt8] {
    let url = try ReferenceFixture(adafacFixture).file("meta_params.msgpack")
    let root = try MessagePackValue.decode(Array(try Data(contentsOf: url)))
    return rewriting(root, at: ["step"]) { _ in step }.encoded()
  }

  /// A one-element float32 array (ext type 1), as flax writes a JAX scalar.
  static func flaxScalar(_ value: Float) -> MessagePackValue {
    let bytes = withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    let payload = MessagePackValue.array([.array([]), .string("float32"), .binary(bytes)])
    return .ext(type: 1, data: payload.encoded())
  }

  @Test(arguments: [
    MessagePackValue.float(.infinity), .float(-.infinity), .float(1e30), .float(1e300),
    .float(.nan), .float(2.5), .int(Int64.max), .int(-5), .uint(UInt64.max),
    flaxScalar(.infinity), flaxScalar(1e30), flaxScalar(-3), flaxScalar(.nan),
  ])
  func aStepOutsideTheIntegersIsAnErrorNamingTheStep(step: MessagePackValue) throws {
    let bytes = try Self.flaxTree(step: step)
    let error = try #require(throws: CheckpointError.self) { try Checkpoint.decode(bytes) }
    guard case .malformed(let keyPath, let reason) = error else {
      Issue.record("unexpected \(error)")
      return
    }
    #expect(keyPath == "step")
    #expect(reason.contains("expected an integer step in 0...2147483647"), "\(reason)")
  }

  @Test func anIntegralFloatStepInRangeIsRead() throws {
    let checkpoint = try Checkpoint.decode(try Self.flaxTree(step: Self.flaxScalar(1234)))
    #expect(checkpoint.metaTrainingStep == 1234)
  }

  /// The safetensors form of a small checkpoint of each kind.
  static func safetensorsFiles() throws -> [SafetensorsFile] {
    let flax = try [Self.adafacFixture, "small/mlp_lopt/default", "velo/h16_p8"].map {
      try Checkpoint.load(ReferenceFixture($0).file("meta_params.msgpack"))
    }
    let scheduled = ScheduledAdamLOpt.Configuration()
    let adam = try Checkpoint(
      configuration: .scheduledAdam(scheduled),
      metaParameters: ScheduledAdamLOpt.initialMetaParameters(
        for: scheduled, key: RandomKey(seed: 1)))
    return (flax + [adam]).map { $0.safetensorsFile() }
  }

  @Test(arguments: [
    ("adafac_mlp", #"{"hiddenSize":-1}"#, "hiddenSize is -1"),
    ("adafac_mlp", #"{"hiddenLayers":1000000000}"#, "hiddenLayers is 1000000000"),
    ("mlp_lopt", #"{"hiddenSize":4611686018427387904}"#, "hiddenSize is 4611686018427387904"),
    ("mlp_lopt", #"{"hiddenLayers":-3}"#, "hiddenLayers is -3"),
    ("velo", #"{"lstmHiddenSize":-1}"#, "lstmHiddenSize is -1"),
    ("velo", #"{"paramInits":4611686018427387904}"#, "paramInits is 4611686018427387904"),
    ("velo", #"{"lstmHiddenSize":4096,"paramInits":4096}"#, "meta-parameters, more than"),
    ("scheduled_adam", #"{"controllerHiddenSize":1000000000}"#, "controllerHiddenSize"),
  ])
  func hostileSizesInTheMetadataConfigurationAreErrors(
    kind: String, change: String, message: String
  ) throws {
    var file = try #require(
      try Self.safetensorsFiles().first { $0.metadata["kind"] == kind })
    let stored =
      try JSONSerialization.jsonObject(
        with: Data(file.metadata["configuration"]!.utf8)) as! [String: Any]
    let changes = try JSONSerialization.jsonObject(with: Data(change.utf8)) as! [String: Any]
    let merged = stored.merging(changes) { $1 }
    file.metadata["configuration"] = String(
      decoding: try JSONSerialization.data(withJSONObject: merged), as: UTF8.self)
    let error = try #require(throws: CheckpointError.self) {
      try Checkpoint.decode(file.serialized())
    }
    guard case .architectureMismatch(let reason) = error else {
      Issue.record("unexpected \(error)")
      return
    }
    #expect(reason.contains(message), "\(reason)")
  }

  @Test func negativeStepsAndNonFiniteCoreHoursAreRefused() throws {
    let url = try ReferenceFixture(Self.adafacFixture).file("meta_params.msgpack")
    let checkpoint = try Checkpoint.load(url)
    #expect(throws: CheckpointError.self) {
      try Checkpoint(
        configuration: checkpoint.configuration, metaParameters: checkpoint.metaParameters,
        metaTrainingStep: -5)
    }
    for hours in [Double.nan, -1, .infinity] {
      var file = checkpoint.safetensorsFile()
      file.metadata["meta_training_core_hours"] = String(hours)
      #expect(throws: CheckpointError.self) { try Checkpoint.decode(file.serialized()) }
    }
  }

  /// 2,000 mutations of each kind's metadata configuration (sizes replaced by edge values,
  /// punctuation broken): reading must only throw `CheckpointError` or `SafetensorsError`.
  @Test func fuzzedMetadataConfigurationsOnlyThrow() throws {
    let files = try Self.safetensorsFiles()
    var mutator = Mutator(
      seed: 16,
      tokens: [
        "-1", "0", "4096", "4097", "1e9", "4611686018427387904", "9223372036854775807", "1e300",
        "-0", "null", "[]", "{}", "\"", ",", ":", "[1e30]",
      ])
    var loaded = 0
    var failures = 0
    for round in 0..<2000 {
      var file = files[round % files.count]
      let json = Array(file.metadata["configuration"]!.utf8)
      file.metadata["configuration"] = String(decoding: mutator.mutate(json), as: UTF8.self)
      do {
        _ = try Checkpoint.decode(file.serialized())
        loaded += 1
      } catch is CheckpointError {
        failures += 1
      } catch is SafetensorsError {
        failures += 1
      }
    }
    #expect(loaded + failures == 2000)
    #expect(failures > 1000, "most mutations should break the configuration")
  }
}
