import Foundation
import LoptCore
import LoptData
import LoptTestSupport
import Testing

@testable import LoptTasks

/// YAML and JSON files and task specs a careless or hostile user could write: each must fail
/// with an error naming the key or field, never trap or allocate without bound.
@Suite struct HostileInputTests {
  /// A plain settings type to decode configuration documents into.
  struct Settings: Codable, Equatable {
    var name = "default"
    var sizes: [Int] = [1, 2]
    var rate = 0.5
  }

  /// The "billion laughs" document: `levels` levels, each aliasing the previous nine times.
  static func aliasBomb(levels: Int) -> String {
    var text = "a0: &a0 [l,l,l,l,l,l,l,l,l]\n"
    for level in 1...levels {
      let previous = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ",")
      text += "a\(level): &a\(level) [\(previous)]\n"
    }
    return text
  }

  @Test func anAliasBombFailsAtOnceNamingAliases() {
    let yaml = Self.aliasBomb(levels: 12)
    #expect(yaml.utf8.count < 1500)
    let start = Date()
    let error = #expect(throws: TaskSpecError.self) {
      try StrictYAML.decode(Settings.self, from: yaml, defaults: Settings())
    }
    #expect(error?.description.contains("aliases") == true, "\(String(describing: error))")
    #expect(Date().timeIntervalSince(start) < 5)
  }

  @Test(arguments: ["null", "~", "42", "just text", "- a\n- b", "[1, 2]", "true"])
  func aDocumentThatIsNotAMapIsAnError(yaml: String) {
    let error = #expect(throws: TaskSpecError.self) {
      try StrictYAML.decode(Settings.self, from: yaml, defaults: Settings())
    }
    #expect(error?.description.contains("must be a map of settings") == true)
  }

  @Test func anEmptyDocumentTakesTheDefaults() throws {
    #expect(try StrictYAML.decode(Settings.self, from: "", defaults: Settings()) == Settings())
    for yaml in ["# nothing\n", "\n"] {
      #expect(try StrictYAML.decode(Settings.self, from: yaml, defaults: Settings()) == Settings())
    }
  }

  @Test func duplicateKeysAreErrorsNamingTheKey() {
    let yaml = "name: a\nrate: 0.1\nname: b\n"
    let error = #expect(throws: TaskSpecError.self) {
      try StrictYAML.decode(Settings.self, from: yaml, defaults: Settings())
    }
    #expect(error?.description.contains("duplicated key(s): 'name'") == true)
    let json = #"{"family": "image-mlp", "batchSize": 8, "batchSize": 9999}"#
    let jsonError = #expect(throws: TaskSpecError.self) { try TaskSpec(json: Data(json.utf8)) }
    #expect(jsonError?.description.contains("'batchSize' appears twice") == true)
    #expect(
      StrictJSON.firstDuplicateKey(in: Data(#"{"a": [{"b": 1}, {"b": 2}], "c": "a"}"#.utf8)) == nil)
  }

  @Test func aWrongTypeAtTheTopNamesTheDocument() {
    let error = #expect(throws: TaskSpecError.self) {
      try StrictJSON.decode(Settings.self, from: Data("[1]".utf8))
    }
    #expect(error?.reason.hasPrefix("the document") == true, "\(String(describing: error))")
  }

  /// A data folder whose Austen slice is `bytes` long.
  static func shortCorpus(bytes: Int) throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-short-text-\(bytes)-\(ProcessInfo.processInfo.processIdentifier)")
    let text = root.appendingPathComponent("text")
    try FileManager.default.createDirectory(at: text, withIntermediateDirectories: true)
    let content = Data(repeating: UInt8(ascii: "a"), count: bytes)
    for name in TextCorpusName.austenSmall.relativePaths {
      try content.write(to: root.appendingPathComponent(name))
    }
    return root
  }

  @Test func aCorpusShorterThanAWindowIsAnErrorNamingTheSequenceLength() throws {
    let root = try Self.shortCorpus(bytes: 10)
    defer { try? FileManager.default.removeItem(at: root) }
    var spec = try TaskSpec(named: "lstm-austen")
    spec.data.dataset = TextCorpusName.austenSmall.rawValue
    let locator = DataLocator(roots: [.init(directory: root, origin: "test")])
    let error = #expect(throws: TaskSpecError.self) { _ = try spec.makeTask(locator: locator) }
    guard case .outOfRange(let field, _, let range)? = error else {
      Issue.record("expected an out-of-range error, got \(String(describing: error))")
      return
    }
    #expect(field == "data.sequenceLength")
    #expect(range.contains("1...9"), "\(range)")
  }

  @Test func specsInsideTheRangesButBeyondTheMemoryLimitFailBeforeAllocating() throws {
    var wide = try TaskSpec(named: "mlp-fashion8-relu32")
    wide.model.hiddenWidths = Array(repeating: 16_384, count: 64)
    var long = try TaskSpec(named: "transformer-austen")
    (long.data.sequenceLength, long.model.heads, long.model.headSize) = (4096, 256, 16)
    long.batchSize = 4096
    for spec in [wide, long] {
      try spec.validate()
      let error = #expect(throws: TaskSpecError.self) { _ = try spec.makeTask() }
      guard case .invalidModel(let reason)? = error else {
        Issue.record("expected a model error, got \(String(describing: error))")
        continue
      }
      #expect(reason.contains("MiB"), "\(reason)")
    }
  }

  @Test func everyNamedTaskFitsTheMemoryLimit() throws {
    for (name, spec) in TaskSpec.named {
      let bytes = TaskSpec.estimatedBytes(of: try spec.cost())
      #expect(bytes < Double(TaskSpec.maximumBytes) / 8, "\(name): \(bytes)")
    }
  }

  /// 3,000 mutations of the named task specs (half edit the bytes, half the values): decoding
  /// and, when that succeeds, recording the model's cost only ever throw `TaskSpecError`.
  @Test func fuzzedTaskSpecsOnlyThrow() throws {
    let seeds = try TaskSpec.named.keys.sorted().map { try TaskSpec.named[$0]!.json() }
    var mutator = Mutator(
      seed: 7,
      tokens: ["-1", "0", "16384", "1e9", "9223372036854775807", "1e300", "null", "[]", "\""])
    var (decoded, failed) = (0, 0)
    for round in 0..<3000 {
      let seed = seeds[round % seeds.count]
      let bytes: Data
      if round % 2 == 0 {
        bytes = Data(mutator.mutate(Array(seed)))
      } else {
        let document = try JSONSerialization.jsonObject(with: seed)
        bytes = try JSONSerialization.data(
          withJSONObject: mutator.mutateValues(document), options: .fragmentsAllowed)
      }
      do {
        let spec = try TaskSpec(json: bytes)
        _ = try spec.cost()
        decoded += 1
      } catch is TaskSpecError {
        failed += 1
      }
    }
    #expect(decoded + failed == 3000)
    #expect(decoded > 30 && failed > 1000, "decoded \(decoded), failed \(failed)")
  }
}
