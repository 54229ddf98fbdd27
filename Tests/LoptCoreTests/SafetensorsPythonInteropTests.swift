import Foundation
import LoptCore
import Testing

/// Files written by and for the Python `safetensors` package (see
/// `scripts/make_safetensors_fixture.py`, which documents every value checked here).
@Suite struct SafetensorsPythonInteropTests {
  static func fixture() throws -> SafetensorsFile {
    let url = try #require(
      Bundle.module.url(
        forResource: "python_written", withExtension: "safetensors", subdirectory: "Resources"))
    return try SafetensorsFile(contentsOf: url)
  }

  @Test func readsAFileWrittenByPython() throws {
    let file = try Self.fixture()
    // Python writes by descending dtype alignment, then name.
    #expect(
      file.names == [
        "wide", "double", "conv.kernel", "dense/kernel", "empty", "scale", "extremes", "steps",
        "brain", "half", "pixels",
      ])
    #expect(
      file.metadata == [
        "format": "np", "creator": "scripts/make_safetensors_fixture.py",
        "note": "ünïcødé ∑, \"quotes\", back\\slash, tab\t, newline\n",
      ])
    let dense = try file.floatTensor(named: "dense/kernel")
    #expect(dense == Tensor(shape: [3, 4], scalars: (0..<12).map { (Float($0) - 5.5) / 4 }))
    #expect(try file.floatTensor(named: "scale") == Tensor(shape: [], repeating: 2.5))
    let conv = try file.floatTensor(named: "conv.kernel")
    #expect(conv == Tensor(shape: [2, 3, 2, 2], scalars: (0..<24).map { 0.25 * Float($0) - 3 }))
    #expect(try file.floatTensor(named: "empty").shape == [0, 3])
    #expect(try file.int32Scalars(named: "steps") == (0..<6).map { 7 * $0 - 20 })
    #expect(file["steps"]?.shape == [2, 3])
    #expect(try file.int32Scalars(named: "extremes") == [.min, -1, 0, 1, .max])
    #expect(try file.uint8Scalars(named: "pixels") == (0..<8).map { UInt8(37 * $0 % 256) })
    #expect(file["pixels"]?.shape == [2, 4])
    let half = try file.floatTensor(named: "half").scalars
    #expect(half == [1, -2.5, 65504, 0x1p-24, 0x1p-14, 0, 0, .infinity])
    #expect(half[6].sign == .minus)
    #expect(try file.floatTensor(named: "double").scalars == [0.1, -7.25, 0.001])
    #expect(try file.floatTensor(named: "brain").scalars == [1, -2.5, .infinity])
    let wide = try #require(file["wide"])
    #expect(wide.dtype == .int64)
    let wideValues = wide.bytes.withUnsafeBytes { raw in
      (0..<2).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
    }
    #expect(wideValues == [-(1 << 40), 5])
  }

  @Test func rewritingPythonsFileKeepsEveryTensor() throws {
    let file = try Self.fixture()
    #expect(try SafetensorsFile(bytes: file.serialized()) == file)
  }

  /// Runs `scripts/make_safetensors_fixture.py --check` on a file Swift wrote, when
  /// `LOPT_SAFETENSORS_PYTHON` names a Python with numpy and safetensors.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["LOPT_SAFETENSORS_PYTHON"] != nil))
  func pythonReadsAFileWrittenBySwift() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    var file = SafetensorsFile(metadata: ["creator": "Lopt", "note": "é \"q\""])
    file.setUInt8([1, 2, 3], shape: [3], named: "pixels")  // unaligned data for the next one
    file.setFloat(Tensor(shape: [2, 3], scalars: [0.5, -1, 2, 3, 4, 5]), named: "weights")
    file.setFloat(Tensor(shape: [], repeating: 2.5), named: "scale")
    file.setInt32([-7, 7], shape: [2], named: "steps")
    let url = directory.file("swift_written.safetensors")
    try file.write(to: url)

    let script = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("scripts/make_safetensors_fixture.py")
    let process = Process()
    process.executableURL = URL(
      fileURLWithPath: ProcessInfo.processInfo.environment["LOPT_SAFETENSORS_PYTHON"]!)
    process.arguments = [script.path, "--check", url.path]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(text)")
    for line in [
      "4 tensors (load_file read all 4)",
      "metadata 'creator': 'Lopt'",
      #"metadata 'note': 'é "q"'"#,
      "pixels: U8 [3] [1, 2, 3]",
      "weights: F32 [2, 3] [0.5, -1.0, 2.0, 3.0, 4.0, 5.0]",
      "scale: F32 [] [2.5]",
      "steps: I32 [2] [-7, 7]",
    ] {
      #expect(text.contains(line), "missing \(line) in:\n\(text)")
    }
  }
}
