import Foundation
import LoptCore
import Testing

/// A reference fixture folder (`fixture.json` plus raw little-endian float32 files), as written
/// by the JAX generators described in `Resources/small/SMALL_LOPT_README.md` and
/// `Resources/velo/README.md`.
struct ReferenceFixture {
  /// One meta-parameter leaf listed in `fixture.json` → `meta_params`.
  struct MetaParameter {
    let name: String
    let keyPath: [String]
    let shape: [Int]
    let offset: Int
    let count: Int
  }

  let directory: URL
  let json: [String: Any]
  private let files: [String: Data]

  /// The folder `Resources/<relativePath>` of the test bundle.
  init(_ relativePath: String) throws {
    let resources = Bundle.module.bundleURL.appendingPathComponent("Resources")
    directory = resources.appendingPathComponent(relativePath)
    let data = try Data(contentsOf: directory.appendingPathComponent("fixture.json"))
    json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    var files: [String: Data] = [:]
    for name in ["meta_params.bin", "steps.bin"] {
      files[name] = try Data(contentsOf: directory.appendingPathComponent(name))
    }
    self.files = files
  }

  /// The URL of a file in the folder.
  func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

  /// The meta-parameter leaves in JAX leaf order.
  var metaParameters: [MetaParameter] {
    (json["meta_params"] as? [[String: Any]] ?? []).map {
      MetaParameter(
        name: $0["name"] as! String, keyPath: $0["key_path"] as! [String],
        shape: $0["shape"] as! [Int], offset: $0["offset"] as! Int, count: $0["count"] as! Int)
    }
  }

  /// The contents of `meta_params.bin` in `layout`, looked up by name.
  func metaParameterSet(layout: ParameterLayout) throws -> ParameterSet {
    var theta = ParameterSet(layout: layout)
    let byName = Dictionary(uniqueKeysWithValues: metaParameters.map { ($0.name, $0) })
    for entry in layout.entries {
      let leaf = try #require(byName[entry.name], "fixture has no meta-parameter \(entry.name)")
      #expect(leaf.shape == entry.shape, "\(entry.name)")
      theta[entry.name] = try floats(
        file: "meta_params.bin", offset: leaf.offset, shape: leaf.shape)
    }
    #expect(byName.count == layout.count, "fixture and layout differ in their leaves")
    return theta
  }

  /// Whether `arrays` has `name`.
  func hasArray(_ name: String) -> Bool { (json["arrays"] as? [String: Any])?[name] != nil }

  /// The array called `name` in `arrays`.
  func array(_ name: String) throws -> Tensor {
    let arrays = try #require(json["arrays"] as? [String: Any])
    let entry = try #require(arrays[name] as? [String: Any], "fixture has no array \(name)")
    return try floats(
      file: entry["file"] as! String, offset: entry["offset"] as! Int,
      shape: entry["shape"] as! [Int])
  }

  /// The parameter tensors' names and shapes in `tensor_order`.
  var modelLayout: ParameterLayout {
    let shapes = json["model_shapes"] as! [String: [Int]]
    return ParameterLayout((json["tensor_order"] as! [String]).map { ($0, shapes[$0]!) })
  }

  /// A parameter set in ``modelLayout`` filled from the arrays `<prefix>/<tensor>`.
  func parameterSet(prefix: String) throws -> ParameterSet {
    var set = ParameterSet(layout: modelLayout)
    for entry in modelLayout.entries {
      set[entry.name] = try array("\(prefix)/\(entry.name)").reshaped(to: entry.shape)
    }
    return set
  }

  private func floats(file: String, offset: Int, shape: [Int]) throws -> Tensor {
    let data = try #require(files[file])
    let count = shape.reduce(1, *)
    try #require(offset + 4 * count <= data.count, "\(file) is shorter than the fixture says")
    let scalars = data.withUnsafeBytes { raw in
      (0..<count).map {
        Float(
          bitPattern: UInt32(
            littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self)))
      }
    }
    return Tensor(shape: shape, scalars: scalars)
  }
}

@Suite struct CheckpointFixtureTests {
  @Test(arguments: ["small/mlp_lopt/default", "small/adafac_mlp/default", "velo/h16_p8"])
  func fixtureFilesHaveTheRecordedSizes(folder: String) throws {
    let fixture = try ReferenceFixture(folder)
    let files = try #require(fixture.json["files"] as? [String: [String: Any]])
    for (name, info) in files {
      let size = try FileManager.default.attributesOfItem(atPath: fixture.file(name).path)[.size]
      #expect((size as? Int) == info["bytes"] as? Int, "\(folder)/\(name)")
    }
  }
}
