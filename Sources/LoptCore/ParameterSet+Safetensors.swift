import Foundation

extension SafetensorsFile {
  /// A file holding every tensor of `parameters` as `F32`, in layout order.
  public init(_ parameters: ParameterSet, metadata: [String: String] = [:]) {
    self.init(metadata: metadata)
    for (index, entry) in parameters.layout.entries.enumerated() {
      self[entry.name] = parameters.withUnsafeBufferPointer(ofTensor: index) {
        StoredTensor(float32: $0, shape: entry.shape)
      }
    }
  }
}

extension ParameterSet {
  /// Writes every tensor as `F32`, in layout order, with `metadata`, atomically.
  ///
  /// - Throws: ``AtomicFileError`` if the file cannot be written.
  public func write(to url: URL, metadata: [String: String] = [:]) throws {
    try SafetensorsFile(self, metadata: metadata).write(to: url)
  }

  /// Reads the file at `url` into the given layout (see ``init(_:layout:)``).
  ///
  /// - Throws: ``SafetensorsError/inFile(path:_:)`` wrapping the problem.
  public init(contentsOf url: URL, layout: ParameterLayout) throws {
    let file = try SafetensorsFile(contentsOf: url)
    do {
      try self.init(file, layout: layout)
    } catch let error as SafetensorsError {
      throw error.located(in: url.path)
    }
  }

  /// Reads the file at `url` with a layout made of its tensors in file order.
  ///
  /// - Throws: ``SafetensorsError/inFile(path:_:)`` wrapping the problem.
  public init(contentsOf url: URL) throws {
    let file = try SafetensorsFile(contentsOf: url)
    do {
      try self.init(file)
    } catch let error as SafetensorsError {
      throw error.located(in: url.path)
    }
  }

  /// Takes the tensors of `layout` out of `file`.
  ///
  /// The file must match the layout exactly: every tensor present with the layout's shape
  /// and no others (so a checkpoint of another architecture is never half-loaded). Tensors may
  /// be in any order and any floating-point dtype; `F64`, `F16` and `BF16` convert to `Float`.
  ///
  /// - Throws: ``SafetensorsError/tensorNotFound(_:)``,
  ///   ``SafetensorsError/dtypeMismatch(tensor:dtype:expected:)``,
  ///   ``SafetensorsError/shapeMismatch(tensor:expected:found:)`` or
  ///   ``SafetensorsError/unexpectedTensors(_:)``.
  public init(_ file: SafetensorsFile, layout: ParameterLayout) throws {
    var parameters = ParameterSet(layout: layout)
    for (index, entry) in layout.entries.enumerated() {
      let stored = try file.tensor(named: entry.name, dtypes: SafetensorsFile.DType.floatingPoint)
      guard stored.shape == entry.shape else {
        throw SafetensorsError.shapeMismatch(
          tensor: entry.name, expected: entry.shape, found: stored.shape)
      }
      parameters.withUnsafeMutableBufferPointer(ofTensor: index) { stored.decodeFloats(into: $0) }
    }
    let known = Set(layout.names)
    let extra = file.names.filter { !known.contains($0) }
    guard extra.isEmpty else { throw SafetensorsError.unexpectedTensors(extra) }
    self = parameters
  }

  /// Takes every tensor of `file`, in file order, as one parameter set.
  ///
  /// - Throws: ``SafetensorsError/dtypeMismatch(tensor:dtype:expected:)`` if a tensor is not
  ///   floating-point.
  public init(_ file: SafetensorsFile) throws {
    let layout = ParameterLayout(file.names.map { (name: $0, shape: file[$0]!.shape) })
    try self.init(file, layout: layout)
  }
}
