import Foundation
import LoptCore
import Testing

@testable import LoptLearned

@Suite struct CheckpointTests {
  /// The fixture's meta-parameters by name, straight from `meta_params.bin`.
  static func referenceLeaves(_ fixture: ReferenceFixture) throws -> [String: Tensor] {
    let layout = ParameterLayout(fixture.metaParameters.map { ($0.name, $0.shape) })
    let theta = try fixture.metaParameterSet(layout: layout)
    return Dictionary(uniqueKeysWithValues: layout.names.map { ($0, theta[$0]) })
  }

  static func bytes(_ fixture: ReferenceFixture, _ file: String) throws -> [UInt8] {
    Array(try Data(contentsOf: fixture.file(file)))
  }

  @Test(arguments: [
    ("velo/h16_p8", "meta_params.msgpack"), ("velo/h16_p8", "meta_params_tuple.msgpack"),
    ("small/mlp_lopt/default", "meta_params.msgpack"),
    ("small/adafac_mlp/default", "meta_params.msgpack"),
    ("small/adafac_mlp/decay_offsets", "meta_params.msgpack"),
  ])
  func msgpackLeavesAreExactlyTheFixtureArrays(folder: String, file: String) throws {
    let fixture = try ReferenceFixture(folder)
    let leaves = try Checkpoint.flaxLeaves(MessagePackValue.decode(Self.bytes(fixture, file)))
    let expected = try Self.referenceLeaves(fixture)
    #expect(Set(leaves.map(\.keyPath)) == Set(fixture.metaParameters.map(\.keyPath)))
    for leaf in leaves {
      let reference = try #require(expected[leaf.name], "\(leaf.name)")
      #expect(leaf.shape == reference.shape, "\(leaf.name)")
      #expect(
        leaf.scalars.map(\.bitPattern) == reference.scalars.map(\.bitPattern), "\(leaf.name)")
    }
  }

  @Test(arguments: [
    ("velo/h16_p8", "meta_params.msgpack", 5620), ("velo/h16_p8", "meta_params_tuple.msgpack", 0),
    ("small/mlp_lopt/default", "meta_params.msgpack", 0),
    ("small/adafac_mlp/decay_offsets", "meta_params.msgpack", 0),
  ])
  func loadingAFlaxCheckpointInfersTheArchitecture(folder: String, file: String, step: Int) throws {
    let fixture = try ReferenceFixture(folder)
    let checkpoint = try Checkpoint.load(fixture.file(file))
    let expected = try Self.referenceLeaves(fixture)
    #expect(checkpoint.metaTrainingStep == step)
    #expect(checkpoint.metaParameters.layout.names == fixture.metaParameters.map(\.name))
    for name in checkpoint.metaParameters.layout.names {
      #expect(checkpoint.metaParameters[name] == expected[name], "\(name)")
    }
    switch checkpoint.configuration {
    case .velo(let configuration):
      #expect(configuration == VeLO.Configuration(lstmHiddenSize: 16, paramInits: 8))
    case .mlpLOpt(let configuration): #expect(configuration == MLPLOpt.Configuration())
    case .adafacMLP(let configuration): #expect(configuration == AdafacMLP.Configuration())
    case .scheduledAdam: Issue.record("a flax tree was read as ScheduledAdamLOpt")
    }
  }

  /// The three LSTM-state encodings of docs/velo.md §19.2 load to the same meta-parameters.
  @Test(arguments: ["fields", "legacy", "tuple"])
  func everyLSTMStateEncodingLoads(encoding: String) throws {
    let fixture = try ReferenceFixture("velo/h16_p8")
    let root = try MessagePackValue.decode(Self.bytes(fixture, "meta_params.msgpack"))
    let original = try Checkpoint.decode(root.encoded())
    let rewritten = rewriting(root, at: ["params", "lstm_init_state"]) { state in
      let (hidden, cell) = (state["hidden"]!, state["cell"]!)
      switch encoding {
      case "legacy":
        return .map([
          MessagePackEntry("name", .string("LSTMState")),
          MessagePackEntry(
            "fields",
            .map([MessagePackEntry("0", .string("hidden")), MessagePackEntry("1", .string("cell"))])
          ),
          MessagePackEntry(
            "values", .map([MessagePackEntry("0", hidden), MessagePackEntry("1", cell)])),
        ])
      case "tuple":
        return .map([MessagePackEntry("1", cell), MessagePackEntry("0", hidden)])
      default:
        return .map([MessagePackEntry("cell", cell), MessagePackEntry("hidden", hidden)])
      }
    }
    #expect(try Checkpoint.decode(rewritten.encoded()) == original)
  }

  @Test(arguments: Checkpoint.Format.allCases)
  func everyKindRoundTripsThroughBothFormats(format: Checkpoint.Format) throws {
    let key = RandomKey(seed: 11)
    let configurations: [LearnedOptimizerConfiguration] = [
      .mlpLOpt(MLPLOpt.Configuration(hiddenSize: 8, hiddenLayers: 3)),
      .adafacMLP(AdafacMLP.Configuration(hiddenSize: 6, hiddenLayers: 1)),
      .velo(VeLO.Configuration.small),
      .scheduledAdam(ScheduledAdamLOpt.Configuration(controllerHiddenSize: 3)),
    ]
    for configuration in configurations {
      let theta: ParameterSet
      switch configuration {
      case .mlpLOpt(let c): theta = MLPLOpt.initialMetaParameters(for: c, key: key)
      case .adafacMLP(let c): theta = AdafacMLP.initialMetaParameters(for: c, key: key)
      case .velo(let c): theta = VeLO.initialMetaParameters(for: c, key: key)
      case .scheduledAdam(let c): theta = ScheduledAdamLOpt.initialMetaParameters(for: c, key: key)
      }
      let checkpoint = try Checkpoint(
        configuration: configuration, metaParameters: theta, metaTrainingStep: 42)
      let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("lopt-checkpoint-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: directory) }
      let url = directory.appendingPathComponent("theta.\(format.rawValue)")
      guard configuration.kind.hasReferenceTree || format == .safetensors else {
        #expect(throws: CheckpointError.unrepresentable(kind: "scheduled_adam", format: "msgpack"))
        {
          try checkpoint.write(to: url, format: format)
        }
        continue
      }
      try checkpoint.write(to: url, format: format)
      #expect(try Checkpoint.load(url) == checkpoint, "\(configuration.kind)")
    }
  }

  @Test func aNumpyScalarStepIsRead() throws {
    let fixture = try ReferenceFixture("small/adafac_mlp/default")
    let root = try MessagePackValue.decode(Self.bytes(fixture, "meta_params.msgpack"))
    let step = rewriting(root, at: ["step"]) { _ in
      let payload = MessagePackValue.array([
        .array([]), .string("int32"), .binary([0x3c, 0, 0, 0]),
      ])
      return .ext(type: 3, data: payload.encoded())
    }
    #expect(try Checkpoint.decode(step.encoded()).metaTrainingStep == 60)
  }

  @Test func releasedVeLOHasTheSpecParameterCount() {
    #expect(VeLO.metaParameterLayout(for: VeLO.Configuration()).totalCount == 2_320_385)
  }

  @Test func wrongTreeNamesAndShapesAreNamed() throws {
    let fixture = try ReferenceFixture("small/adafac_mlp/default")
    let root = try MessagePackValue.decode(Self.bytes(fixture, "meta_params.msgpack"))
    let renamed = rewriting(root, at: ["params", "nn", "~"]) { tree in
      guard case .map(let entries) = tree else { return tree }
      return .map(entries.map { MessagePackEntry($0.key == "b1" ? "bias1" : $0.key, $0.value) })
    }
    #expect(throws: CheckpointError.missingTensor("nn.~.b1")) {
      try Checkpoint.decode(renamed.encoded())
    }
    let reshaped = rewriting(root, at: ["params", "rms_decays"]) { _ in
      let payload = MessagePackValue.array([
        .array([.int(2)]), .string("float32"), .binary([UInt8](repeating: 0, count: 8)),
      ])
      return .ext(type: 1, data: payload.encoded())
    }
    #expect(
      throws: CheckpointError.shapeMismatch(tensor: "rms_decays", expected: [1], found: [2])
    ) { try Checkpoint.decode(reshaped.encoded()) }
    let wrongType = rewriting(root, at: ["params", "nn", "~", "w1"]) { _ in .string("oops") }
    #expect(
      throws: CheckpointError.malformed(
        keyPath: "nn/~/w1", reason: "expected a map or an array (ext type 1), found a string")
    ) {
      try Checkpoint.decode(wrongType.encoded())
    }
  }

  @Test func aCheckpointForAnotherArchitectureIsRejected() throws {
    let fixture = try ReferenceFixture("velo/h16_p8")
    let url = fixture.file("meta_params.msgpack")
    #expect(throws: CheckpointError.self) {
      try Checkpoint.load(url, configuration: .velo(VeLO.Configuration()))
    }
    do {
      _ = try Checkpoint.load(url, configuration: .mlpLOpt(MLPLOpt.Configuration()))
      Issue.record("a VeLO checkpoint loaded as MLPLOpt")
    } catch let error as CheckpointError {
      #expect(error.description.contains("holds a velo, expected a mlp_lopt"), "\(error)")
      #expect(error.description.hasPrefix(url.path))
    }
    let adafac = try Checkpoint.load(
      try ReferenceFixture("small/adafac_mlp/default").file("meta_params.msgpack"))
    let other = AdafacMLP.Configuration(hiddenSize: 5)
    let file = adafac.safetensorsFile()
    #expect(throws: CheckpointError.self) {
      try Checkpoint(safetensors: file, expecting: .adafacMLP(other))
    }
  }

  @Test func safetensorsWithoutLoptMetadataOrWithWrongTensorsAreRejected() throws {
    let checkpoint = try Checkpoint.load(
      try ReferenceFixture("small/mlp_lopt/default").file("meta_params.msgpack"))
    var file = checkpoint.safetensorsFile()
    file.metadata = [:]
    #expect(throws: CheckpointError.self) { try Checkpoint.decode(file.serialized()) }
    file = checkpoint.safetensorsFile()
    file["mlp/~/linear_9.w"] = file["mlp/~/linear_0.w"]
    #expect(throws: CheckpointError.unexpectedTensors(["mlp/~/linear_9.w"])) {
      try Checkpoint.decode(file.serialized())
    }
    file = checkpoint.safetensorsFile()
    file["mlp/~/linear_2.b"] = nil
    #expect(throws: CheckpointError.missingTensor("mlp/~/linear_2.b")) {
      try Checkpoint.decode(file.serialized())
    }
    file = checkpoint.safetensorsFile()
    file.metadata["kind"] = "sgd"
    #expect(throws: CheckpointError.self) { try Checkpoint.decode(file.serialized()) }
    let bytes = try checkpoint.encoded(as: .safetensors)
    #expect(throws: SafetensorsError.self) { try Checkpoint.decode(Array(bytes.dropLast(3))) }
    #expect(throws: CheckpointError.self) { try Checkpoint.decode([0x01, 0x02]) }
  }
}

/// `value` with the subtree at `keyPath` replaced by `transform` of it.
func rewriting(
  _ value: MessagePackValue, at keyPath: [String],
  _ transform: (MessagePackValue) -> MessagePackValue
) -> MessagePackValue {
  guard let key = keyPath.first else { return transform(value) }
  guard case .map(let entries) = value else { return value }
  return .map(
    entries.map {
      $0.key == key
        ? MessagePackEntry(key, rewriting($0.value, at: Array(keyPath.dropFirst()), transform))
        : $0
    })
}
