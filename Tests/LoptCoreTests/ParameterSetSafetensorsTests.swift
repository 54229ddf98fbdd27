import Foundation
import LoptCore
import Testing

@Suite struct ParameterSetSafetensorsTests {
  /// A set in deliberately unsorted layout order, with a scalar and an empty tensor.
  static func parameters() -> ParameterSet {
    let layout = ParameterLayout([
      ("z/w", [2, 3]), ("a/b", [3]), ("m", []), ("empty", [0, 2]), ("k", [1, 2, 1, 2]),
    ])
    let key = RandomKey(seed: 9)
    var parameters = ParameterSet(layout: layout)
    parameters.withUnsafeMutableBufferPointer { key.fillNormal($0) }
    return parameters
  }

  @Test func roundTripsWithTheLayoutOrInFileOrder() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let url = directory.file("theta.safetensors")
    let parameters = Self.parameters()
    try parameters.write(to: url, metadata: ["step": "42"])
    #expect(try ParameterSet(contentsOf: url, layout: parameters.layout) == parameters)
    let inFileOrder = try ParameterSet(contentsOf: url)
    #expect(inFileOrder.layout == parameters.layout)
    #expect(inFileOrder == parameters)
    let file = try SafetensorsFile(contentsOf: url)
    #expect(file.metadata == ["step": "42"])
    #expect(file.names.allSatisfy { file[$0]?.dtype == .float32 })
    #expect(try directory.entries() == ["theta.safetensors"])
  }

  @Test func readsAnyTensorOrderAndFloatingPointDType() throws {
    let parameters = Self.parameters()
    var file = SafetensorsFile()
    for entry in parameters.layout.entries.reversed() {
      file.setFloat(parameters[entry], named: entry.name)
    }
    // The same values stored as F64 convert back exactly.
    let values = parameters["a/b"].scalars.map(Double.init)
    file["a/b"] = .init(
      dtype: .float64, shape: [3],
      bytes: values.flatMap { value in
        withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
      })
    #expect(try ParameterSet(file, layout: parameters.layout) == parameters)
    #expect(try ParameterSet(file).layout.names == ["k", "empty", "m", "a/b", "z/w"])
  }

  @Test func mismatchesNameTheTensorAndTheFile() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let url = directory.file("theta.safetensors")
    let parameters = Self.parameters()
    var file = SafetensorsFile(parameters)
    file.setFloat(Tensor(shape: [3, 2], repeating: 0), named: "z/w")
    try file.write(to: url)
    let error = #expect(throws: SafetensorsError.self) {
      try ParameterSet(contentsOf: url, layout: parameters.layout)
    }
    #expect(
      error
        == .inFile(path: url.path, .shapeMismatch(tensor: "z/w", expected: [2, 3], found: [3, 2])))
    #expect(
      error?.description == "\(url.path): tensor 'z/w' has shape [3, 2], the layout expects [2, 3]")

    file = SafetensorsFile(parameters)
    file["m"] = nil
    #expect(throws: SafetensorsError.tensorNotFound("m")) {
      try ParameterSet(file, layout: parameters.layout)
    }
    file = SafetensorsFile(parameters)
    file.setInt32([1], shape: [], named: "m")
    #expect(
      throws: SafetensorsError.dtypeMismatch(
        tensor: "m", dtype: .int32, expected: SafetensorsFile.DType.floatingPoint)
    ) {
      try ParameterSet(file, layout: parameters.layout)
    }
    file = SafetensorsFile(parameters)
    file.setFloat(Tensor([1]), named: "extra")
    file.setFloat(Tensor([1]), named: "another")
    let extra = #expect(throws: SafetensorsError.self) {
      try ParameterSet(file, layout: parameters.layout)
    }
    #expect(extra == .unexpectedTensors(["extra", "another"]))
    #expect(extra?.description == "tensors not in the layout: 'extra', 'another'")
  }
}
