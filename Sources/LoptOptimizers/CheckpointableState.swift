import LoptCore

/// Optimizer state that can be written to and restored from a safetensors file.
///
/// A state is restored *into* a state made by `makeState(for:totalSteps:)` for the same
/// parameters, so its buffers keep their preallocated storage and every stored shape is
/// checked against them. Training resumed from a restored state is bit-identical to training
/// that never stopped.
public protocol CheckpointableState: Sendable {
  /// Stores every tensor and counter of the state under names starting with `prefix`.
  func write(into file: inout SafetensorsFile, prefix: String)

  /// Overwrites the state with the tensors stored under `prefix`.
  ///
  /// - Throws: `SafetensorsError.tensorNotFound(_:)` or
  ///   `SafetensorsError.shapeMismatch(tensor:expected:found:)` when the file holds the state
  ///   of other parameters or another optimizer.
  mutating func restore(from file: SafetensorsFile, prefix: String) throws
}

extension SafetensorsFile {
  /// Stores every tensor of `parameters` as `F32` under `prefix + name + "/" + tensor name`.
  public mutating func setParameters(_ parameters: ParameterSet, named name: String) {
    for (index, entry) in parameters.layout.entries.enumerated() {
      self[name + "/" + entry.name] = parameters.withUnsafeBufferPointer(ofTensor: index) {
        StoredTensor(Tensor(shape: entry.shape, scalars: Array($0)))
      }
    }
  }

  /// Reads the tensors written by ``setParameters(_:named:)`` into `parameters`.
  ///
  /// - Throws: `SafetensorsError.tensorNotFound(_:)` or
  ///   `SafetensorsError.shapeMismatch(tensor:expected:found:)`.
  public func readParameters(_ parameters: inout ParameterSet, named name: String) throws {
    for (index, entry) in parameters.layout.entries.enumerated() {
      let tensor = try readTensor(named: name + "/" + entry.name, shape: entry.shape)
      tensor.withUnsafeBufferPointer { source in
        parameters.withUnsafeMutableBufferPointer(ofTensor: index) { destination in
          _ = destination.initialize(from: source)
        }
      }
    }
  }

  /// The `F32` tensor called `name`, checked to have `shape`.
  ///
  /// - Throws: `SafetensorsError.tensorNotFound(_:)` or
  ///   `SafetensorsError.shapeMismatch(tensor:expected:found:)`.
  public func readTensor(named name: String, shape: [Int]) throws -> Tensor {
    let tensor = try floatTensor(named: name)
    guard tensor.shape == shape else {
      throw SafetensorsError.shapeMismatch(tensor: name, expected: shape, found: tensor.shape)
    }
    return tensor
  }

  /// Stores a step counter as an `I32` scalar.
  ///
  /// - Precondition: `value` fits in 32 bits.
  public mutating func setCounter(_ value: Int, named name: String) {
    setInt32([Int32(value)], shape: [], named: name)
  }

  /// The step counter stored by ``setCounter(_:named:)``.
  ///
  /// - Throws: `SafetensorsError.tensorNotFound(_:)` or
  ///   `SafetensorsError.shapeMismatch(tensor:expected:found:)`.
  public func readCounter(named name: String) throws -> Int {
    let values = try int32Scalars(named: name)
    guard values.count == 1, let shape = self[name]?.shape, shape.isEmpty else {
      throw SafetensorsError.shapeMismatch(
        tensor: name, expected: [], found: self[name]?.shape ?? [values.count])
    }
    return Int(values[0])
  }

  /// Throws unless the counter `name` holds `expected` (a state saved for another run length
  /// does not fit this one).
  ///
  /// - Throws: as ``readCounter(named:)``, or `SafetensorsError.shapeMismatch` giving both
  ///   values.
  public func expectCounter(named name: String, equals expected: Int) throws {
    let found = try readCounter(named: name)
    guard found == expected else {
      throw SafetensorsError.shapeMismatch(tensor: name, expected: [expected], found: [found])
    }
  }
}
