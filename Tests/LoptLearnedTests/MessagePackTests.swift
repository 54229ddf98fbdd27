import Foundation
import LoptCore
import LoptTestSupport
import Testing

@testable import LoptLearned

@Suite struct MessagePackTests {
  @Test(
    arguments: [
      ([0x00], MessagePackValue.int(0)), ([0x7f], .int(127)), ([0xff], .int(-1)),
      ([0xe0], .int(-32)), ([0xcc, 0x80], .int(128)), ([0xcd, 0x01, 0x00], .int(256)),
      ([0xd0, 0x80], .int(-128)), ([0xd1, 0xff, 0x7f], .int(-129)),
      ([0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], .int(Int64.min)),
      ([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], .uint(UInt64.max)),
      ([0xc0], .null), ([0xc2], .bool(false)), ([0xc3], .bool(true)),
      ([0xca, 0x3f, 0xc0, 0, 0], .float(1.5)),
      ([0xcb, 0xc0, 0x04, 0, 0, 0, 0, 0, 0], .float(-2.5)),
      ([0xa2, 0x68, 0x69], .string("hi")), ([0xd9, 0x01, 0x7e], .string("~")),
      ([0xc4, 0x02, 0x01, 0x02], .binary([1, 2])), ([0x92, 0x01, 0xc0], .array([.int(1), .null])),
      ([0x81, 0xa1, 0x61, 0x01], .map([MessagePackEntry("a", .int(1))])),
      ([0xd4, 0x03, 0x09], .ext(type: 3, data: [9])),
      ([0xc7, 0x03, 0x01, 0x93, 0x90, 0xc0], .ext(type: 1, data: [0x93, 0x90, 0xc0])),
      ([0xdc, 0x00, 0x01, 0x05], .array([.int(5)])),
      ([0xde, 0x00, 0x01, 0xa1, 0x62, 0xc3], .map([MessagePackEntry("b", .bool(true))])),
    ] as [([UInt8], MessagePackValue)])
  func decodesEveryFormFlaxUses(bytes: [UInt8], value: MessagePackValue) throws {
    #expect(try MessagePackValue.decode(bytes) == value)
  }

  @Test func encodingRoundTripsAndIsCanonical() throws {
    let value = MessagePackValue.map([
      MessagePackEntry("params", .map([MessagePackEntry("w", .ext(type: 1, data: [1, 2, 3]))])),
      MessagePackEntry("step", .int(70_000)), MessagePackEntry("neg", .int(-40_000)),
      MessagePackEntry("long", .string(String(repeating: "x", count: 300))),
      MessagePackEntry("blob", .binary(Array(repeating: 7, count: 70_000))),
      MessagePackEntry("list", .array((0..<20).map { .int(Int64($0)) })),
      MessagePackEntry("f", .float(0.1)), MessagePackEntry("u", .uint(UInt64.max)),
    ])
    #expect(try MessagePackValue.decode(value.encoded()) == value)
    #expect(
      MessagePackValue.map([MessagePackEntry("a", .int(1))]).encoded() == [0x81, 0xa1, 0x61, 0x01])
    #expect(MessagePackValue.int(-33).encoded() == [0xd0, 0xdf])
  }

  @Test func everyTruncationOfAFixtureIsAnErrorNamingTheKeyPath() throws {
    let bytes = Array(
      try Data(
        contentsOf: try ReferenceFixture("small/adafac_mlp/default").file("meta_params.msgpack")))
    var keyPaths = Set<String>()
    for length in 0..<bytes.count {
      do {
        _ = try MessagePackValue.decode(Array(bytes[..<length]))
        Issue.record("a \(length)-byte prefix decoded")
      } catch let error as CheckpointError {
        guard case .malformed(let keyPath, let reason) = error else {
          Issue.record("unexpected \(error)")
          continue
        }
        #expect(reason.contains("truncated"), "\(reason)")
        keyPaths.insert(keyPath)
      }
    }
    #expect(keyPaths.contains("params/nn/~/w0"), "\(keyPaths.sorted())")
  }

  @Test(
    arguments: [
      ([0xc1], "", "not a MessagePack type"),
      ([0x81, 0x01, 0x02], "", "map key 0 is not a string"),
      ([0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02], "a", "duplicate map key"),
      ([0x81, 0xa1, 0x61, 0xa1, 0xff], "a", "not valid UTF-8"),
      ([0x81, 0xa1, 0x61, 0x92, 0x01], "a", "2 array elements"),
      ([0x81, 0xa1, 0x61, 0x92, 0x01, 0xcd, 0x01], "a/1", "2-byte number"),
      ([0x01, 0x02], "", "trailing bytes"),
      ([0xdd, 0xff, 0xff, 0xff, 0xff], "", "truncated"),
      ([0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00], "", "truncated"),
    ] as [([UInt8], String, String)])
  func rejectsMalformedInputClearly(bytes: [UInt8], keyPath: String, reason: String) {
    do {
      _ = try MessagePackValue.decode(bytes)
      Issue.record("\(bytes) decoded")
    } catch let error as CheckpointError {
      #expect(error == .malformed(keyPath: keyPath, reason: reasonOf(error)), "\(error)")
      #expect(error.description.contains(reason), "\(error)")
    } catch {
      Issue.record("unexpected error type: \(error)")
    }
  }

  @Test func rejectsNestingDeeperThanTheLimit() {
    let bytes = [UInt8](repeating: 0x91, count: 100_000) + [0x00]
    #expect(throws: CheckpointError.self) { try MessagePackValue.decode(bytes) }
  }

  /// 2,000 random and mutated buffers (msgpack and safetensors checkpoints): decoding and
  /// loading them must only throw.
  @Test func fuzzedBytesOnlyEverThrow() throws {
    let adafac = try ReferenceFixture("small/adafac_mlp/default").file("meta_params.msgpack")
    let seeds = [
      Array(try Data(contentsOf: adafac)),
      Array(
        try Data(contentsOf: try ReferenceFixture("velo/h16_p8").file("meta_params_tuple.msgpack"))),
      try Checkpoint.load(adafac).encoded(as: .safetensors),
    ]
    let key = RandomKey(seed: 2024)
    var stream = 0
    func next(_ bound: Int) -> Int {
      stream += 1
      return key.integer(below: max(bound, 1), at: stream)
    }
    var mutator = Mutator(seed: 2024)
    var outcomes: [String: Int] = [:]
    for round in 0..<2000 {
      var bytes: [UInt8]
      if round < 500 {
        bytes = (0..<next(64)).map { _ in UInt8(next(256)) }
        if round % 2 == 0, !bytes.isEmpty { bytes[0] = 0x80 | (bytes[0] & 0x0f) }
      } else {
        bytes = mutator.mutate(seeds[round % 4 == 0 ? 1 : round % 4 == 1 ? 2 : 0])
      }
      do {
        if Checkpoint.format(of: bytes) != .safetensors { _ = try MessagePackValue.decode(bytes) }
        _ = try Checkpoint.decode(bytes)
        outcomes["loaded", default: 0] += 1
      } catch let error as CheckpointError {
        outcomes[caseName(error.underlying), default: 0] += 1
      } catch is SafetensorsError {
        outcomes["safetensors", default: 0] += 1
      } catch {
        Issue.record("round \(round): unexpected error \(error)")
      }
    }
    #expect(outcomes.values.reduce(0, +) == 2000)
    print("MessagePack fuzz, 2000 buffers: \(outcomes.sorted { $0.key < $1.key })")
  }
}

/// The reason of a `.malformed` error.
private func reasonOf(_ error: CheckpointError) -> String {
  if case .malformed(_, let reason) = error { return reason }
  return ""
}

/// The name of an error's case, for tallies.
func caseName(_ error: CheckpointError) -> String {
  Mirror(reflecting: error).children.first?.label ?? "\(error)"
}
