import Foundation
import LoptCore

/// A learned optimizer's meta-parameters with its architecture, as stored in a file.
///
/// Two file formats are read and written:
/// - **Lopt safetensors** (the native format): one `F32` tensor per meta-parameter, named by
///   its reference tree name (`ParameterLayout` order), and the metadata
///   `format = "lopt-learned-optimizer"`, `version = "1"`, `kind` (``LearnedOptimizerKind``),
///   `configuration` (the configuration as JSON) and, if known, `meta_training_step` and
///   `meta_training_core_hours`.
/// - **flax msgpack**, the format of learned_optimization's checkpoints and of the released VeLO
///   (docs/velo.md §19.2): `{"params": θ, "gen_id": str, "step": …}` or the tuple form
///   `{"0": θ, "1": …, "2": …}`, θ a tree of maps whose leaves are ext-type-1 arrays. The file
///   holds no configuration: the kind and sizes are inferred from the tree (see
///   `inferConfiguration(from:)`), every other setting takes the reference default.
///
/// PyLO's safetensors layout (docs/velo.md §19.4) is read by `PyLOVeLO`, not here; its name
/// mapping is derived from PyLO's model code and could not be checked against a published file.
public struct Checkpoint: Equatable, Sendable {
  /// The file formats a checkpoint can be written in.
  public enum Format: String, CaseIterable, Sendable {
    /// Lopt's safetensors format.
    case safetensors
    /// flax msgpack (learned_optimization's `ParameterCheckpoint`).
    case flaxMessagePack = "msgpack"
  }

  /// The architecture.
  public var configuration: LearnedOptimizerConfiguration
  /// The meta-parameters θ in ``LearnedOptimizerConfiguration/metaParameterLayout``.
  public var metaParameters: ParameterSet
  /// The outer (meta-training) step the checkpoint was taken at, if recorded.
  public var metaTrainingStep: Int?
  /// The compute spent meta-training up to this checkpoint, in core-hours, if recorded.
  public var metaTrainingCoreHours: Double?

  /// The kind of optimizer.
  public var kind: LearnedOptimizerKind { configuration.kind }

  /// The `format` metadata value of Lopt safetensors checkpoints.
  public static let formatName = "lopt-learned-optimizer"

  /// Creates a checkpoint after checking the architecture, that the meta-parameters fit it, and
  /// that the step and core-hours (when given) are non-negative and finite.
  ///
  /// - Throws: ``CheckpointError`` naming the invalid setting or the first missing, extra or
  ///   mis-shaped tensor.
  public init(
    configuration: LearnedOptimizerConfiguration, metaParameters: ParameterSet,
    metaTrainingStep: Int? = nil, metaTrainingCoreHours: Double? = nil
  ) throws {
    try configuration.validateAsCheckpoint()
    if let metaTrainingStep, metaTrainingStep < 0 {
      throw CheckpointError.unrecognizedFormat(
        reason: "the meta-training step is \(metaTrainingStep), expected a non-negative integer")
    }
    if let hours = metaTrainingCoreHours, !(hours.isFinite && hours >= 0) {
      throw CheckpointError.unrecognizedFormat(
        reason: "meta_training_core_hours is \(hours), expected a non-negative number")
    }
    let layout = configuration.metaParameterLayout
    if metaParameters.layout != layout {
      try CheckpointError.checkNames(
        Dictionary(uniqueKeysWithValues: metaParameters.layout.entries.map { ($0.name, $0.shape) }),
        against: layout)
    }
    self.configuration = configuration
    self.metaParameters = ParameterSet(layout: layout, flat: reordered(metaParameters, to: layout))
    self.metaTrainingStep = metaTrainingStep
    self.metaTrainingCoreHours = metaTrainingCoreHours
  }

  /// Reads a Lopt safetensors or flax msgpack checkpoint, recognised by its first bytes.
  ///
  /// - Parameters:
  ///   - url: the file.
  ///   - configuration: the expected architecture; `nil` takes it from the file (safetensors
  ///     metadata, or inferred from a msgpack tree).
  /// - Returns: the architecture, meta-parameters and meta-training step.
  /// - Throws: ``CheckpointError/inFile(path:_:)`` wrapping the problem (an unreadable file is
  ///   ``CheckpointError/unrecognizedFormat(reason:)``); `SafetensorsError` for a corrupt
  ///   safetensors container.
  public static func load(
    _ url: URL, configuration: LearnedOptimizerConfiguration? = nil
  ) throws -> Checkpoint {
    let bytes: [UInt8]
    do {
      bytes = Array(try FileContents.read(url))
    } catch let error as FileReadError {
      throw CheckpointError.inFile(path: url.path, .unrecognizedFormat(reason: error.reason))
    }
    do {
      return try decode(bytes, configuration: configuration)
    } catch let error as CheckpointError {
      throw error.located(in: url.path)
    } catch let error as SafetensorsError {
      throw SafetensorsError.inFile(path: url.path, error)
    }
  }

  /// Decodes the bytes of a Lopt safetensors or flax msgpack checkpoint (see ``load(_:configuration:)``).
  ///
  /// - Throws: ``CheckpointError`` or `SafetensorsError`.
  public static func decode(
    _ bytes: [UInt8], configuration: LearnedOptimizerConfiguration? = nil
  ) throws -> Checkpoint {
    switch format(of: bytes) {
    case .safetensors:
      return try Checkpoint(
        safetensors: try SafetensorsFile(bytes: bytes), expecting: configuration)
    case .flaxMessagePack:
      return try Checkpoint(flax: try MessagePackValue.decode(bytes), expecting: configuration)
    case nil:
      throw CheckpointError.unrecognizedFormat(
        reason: "neither a safetensors file (8-byte header length, then '{') nor a flax msgpack "
          + "map")
    }
  }

  /// The format the bytes look like, from their first bytes: safetensors if byte 8 opens the
  /// JSON header, msgpack if byte 0 starts a map; `nil` otherwise.
  public static func format(of bytes: [UInt8]) -> Format? {
    if bytes.count >= 9, bytes[8] == UInt8(ascii: "{") { return .safetensors }
    switch bytes.first {
    case .some(0x80...0x8f), .some(0xde), .some(0xdf): return .flaxMessagePack
    default: return nil
    }
  }

  /// The checkpoint in `format`.
  ///
  /// - Throws: ``CheckpointError/unrepresentable(kind:format:)`` for flax msgpack and a kind
  ///   the reference code has no tree for (the tree alone must name the kind).
  public func encoded(as format: Format) throws -> [UInt8] {
    switch format {
    case .safetensors: return safetensorsFile().serialized()
    case .flaxMessagePack:
      guard kind.hasReferenceTree else {
        throw CheckpointError.unrepresentable(kind: kind.rawValue, format: format.rawValue)
      }
      return flaxValue().encoded()
    }
  }

  /// Writes the checkpoint in `format` to `url` atomically (see `AtomicFile`).
  ///
  /// - Throws: ``CheckpointError/unrepresentable(kind:format:)`` (see
  ///   ``encoded(as:)``), `AtomicFileError` if the file cannot be written.
  public func write(to url: URL, format: Format) throws {
    try AtomicFile.write(encoded(as: format), to: url)
  }

  /// The Lopt safetensors file of the checkpoint.
  func safetensorsFile() -> SafetensorsFile {
    var metadata = [
      "format": Self.formatName, "version": "1", "kind": kind.rawValue,
      "configuration": configuration.json(),
    ]
    if let metaTrainingStep { metadata["meta_training_step"] = String(metaTrainingStep) }
    if let metaTrainingCoreHours {
      metadata["meta_training_core_hours"] = String(metaTrainingCoreHours)
    }
    return SafetensorsFile(metaParameters, metadata: metadata)
  }

  /// Reads a Lopt safetensors checkpoint.
  init(safetensors file: SafetensorsFile, expecting expected: LearnedOptimizerConfiguration?) throws
  {
    let metadata = file.metadata
    guard metadata["format"] == Self.formatName else {
      throw CheckpointError.unrecognizedFormat(
        reason: "the safetensors metadata has format '\(metadata["format"] ?? "")', expected "
          + "'\(Self.formatName)' (PyLO's safetensors checkpoints are not supported)")
    }
    guard metadata["version"] == "1" else {
      throw CheckpointError.unrecognizedFormat(
        reason: "checkpoint version '\(metadata["version"] ?? "")' is not supported (this build "
          + "reads version 1)")
    }
    guard let kindName = metadata["kind"], let kind = LearnedOptimizerKind(rawValue: kindName)
    else {
      throw CheckpointError.unrecognizedFormat(
        reason: "unknown optimizer kind '\(metadata["kind"] ?? "")'; known: "
          + LearnedOptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))
    }
    let stored = try LearnedOptimizerConfiguration(
      kind: kind, json: metadata["configuration"] ?? "")
    let configuration = try Self.checked(stored, expected: expected)
    try configuration.validateAsCheckpoint()
    let layout = configuration.metaParameterLayout
    try CheckpointError.checkNames(
      Dictionary(uniqueKeysWithValues: file.names.map { ($0, file[$0]!.shape) }), against: layout)
    var step: Int?
    if let text = metadata["meta_training_step"] {
      guard let value = Int(text) else {
        throw CheckpointError.unrecognizedFormat(
          reason: "meta_training_step '\(text)' is not an integer")
      }
      step = value
    }
    var coreHours: Double?
    if let text = metadata["meta_training_core_hours"] {
      guard let value = Double(text) else {
        throw CheckpointError.unrecognizedFormat(
          reason: "meta_training_core_hours '\(text)' is not a number")
      }
      coreHours = value
    }
    try self.init(
      configuration: configuration, metaParameters: try ParameterSet(file, layout: layout),
      metaTrainingStep: step, metaTrainingCoreHours: coreHours)
  }

  /// `stored`, unless `expected` is given and differs.
  static func checked(
    _ stored: LearnedOptimizerConfiguration, expected: LearnedOptimizerConfiguration?
  ) throws -> LearnedOptimizerConfiguration {
    guard let expected, expected != stored else { return stored }
    throw CheckpointError.architectureMismatch(
      reason: "the checkpoint is a \(stored.kind.rawValue) with configuration \(stored.json()), "
        + "expected a \(expected.kind.rawValue) with \(expected.json())")
  }
}

/// The elements of `parameters` in the order of `layout` (same names and shapes).
private func reordered(_ parameters: ParameterSet, to layout: ParameterLayout) -> Tensor {
  guard parameters.layout != layout else { return parameters.flat }
  var result = ParameterSet(layout: layout)
  for entry in layout.entries { result[entry.name] = parameters[entry.name] }
  return result.flat
}
