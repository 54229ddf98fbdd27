import Foundation
import LoptCore
import LoptOptimizers

// The registry of learned-optimizer kinds: the kinds, the architecture of any kind, and each
// kind's entry (its name, how its configuration is wrapped, found and checked). Code that works
// with any kind goes through ``LearnedOptimizerConfiguration/apply(_:)`` or
// ``LearnedOptimizerKind/optimizerType``, not a switch of its own.

/// The learned optimizers a checkpoint can hold.
public enum LearnedOptimizerKind: String, Codable, CaseIterable, Sendable {
  /// ``MLPLOpt``.
  case mlpLOpt = "mlp_lopt"
  /// ``AdafacMLP``.
  case adafacMLP = "adafac_mlp"
  /// ``VeLO`` (HyperV2).
  case velo
  /// ``ScheduledAdamLOpt``.
  case scheduledAdam = "scheduled_adam"

  /// The revision of the kind's update rule: raised whenever the same meta-parameters start to
  /// train differently, so that cached evaluation runs of the old rule are not reused.
  public var ruleRevision: Int { self == .scheduledAdam ? 3 : 1 }

  /// Whether learned_optimization has this optimizer, so that a flax msgpack tree of its
  /// meta-parameters identifies it.
  public var hasReferenceTree: Bool { self != .scheduledAdam }

  /// The registry of learned optimizers: the type of each kind.
  public var optimizerType: any LearnedOptimizer.Type {
    switch self {
    case .mlpLOpt: MLPLOpt.self
    case .adafacMLP: AdafacMLP.self
    case .velo: VeLO.self
    case .scheduledAdam: ScheduledAdamLOpt.self
    }
  }
}

/// A learned-optimizer architecture that cannot be built (a size out of range, an unsupported
/// setting).
///
/// Reading a checkpoint reports it as ``CheckpointError/architectureMismatch(reason:)`` with the
/// file's name; a configuration file or an initialiser reports it as it is.
public struct ArchitectureError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What is wrong, naming the setting.
  public let reason: String

  /// An error for `reason`.
  public init(_ reason: String) { self.reason = reason }

  /// The reason.
  public var description: String { reason }
}

/// An operation on a learned-optimizer architecture of any kind, written once for every kind:
/// ``LearnedOptimizerConfiguration/apply(_:)`` calls it with the kind's type and configuration.
public protocol LearnedOptimizerOperation {
  /// What the operation returns.
  associatedtype Result
  /// What the operation throws (`Never` when it cannot fail).
  associatedtype Failure: Error

  /// The operation for optimizers of type `O` with architecture `configuration`.
  func callAsFunction<O: LearnedOptimizer>(_ type: O.Type, _ configuration: O.Configuration)
    throws(Failure) -> Result
}

/// The architecture of a learned optimizer of any kind: its kind plus that kind's configuration.
public enum LearnedOptimizerConfiguration: Equatable, Sendable {
  /// An ``MLPLOpt`` architecture.
  case mlpLOpt(MLPLOpt.Configuration)
  /// An ``AdafacMLP`` architecture.
  case adafacMLP(AdafacMLP.Configuration)
  /// A ``VeLO`` architecture.
  case velo(VeLO.Configuration)
  /// A ``ScheduledAdamLOpt`` architecture.
  case scheduledAdam(ScheduledAdamLOpt.Configuration)

  /// Runs `operation` with this architecture's optimizer type and configuration.
  public func apply<Operation: LearnedOptimizerOperation>(
    _ operation: Operation
  ) throws(Operation.Failure) -> Operation.Result {
    switch self {
    case .mlpLOpt(let configuration): try operation(MLPLOpt.self, configuration)
    case .adafacMLP(let configuration): try operation(AdafacMLP.self, configuration)
    case .velo(let configuration): try operation(VeLO.self, configuration)
    case .scheduledAdam(let configuration): try operation(ScheduledAdamLOpt.self, configuration)
    }
  }

  /// The kind of optimizer.
  public var kind: LearnedOptimizerKind {
    struct Kind: LearnedOptimizerOperation {
      typealias Result = LearnedOptimizerKind
      typealias Failure = Never
      func callAsFunction<O: LearnedOptimizer>(_: O.Type, _: O.Configuration)
        -> LearnedOptimizerKind
      {
        O.kind
      }
    }
    return apply(Kind())
  }

  /// The meta-parameter layout (reference tree names, JAX leaf order) of the architecture.
  public var metaParameterLayout: ParameterLayout {
    struct Layout: LearnedOptimizerOperation {
      typealias Result = ParameterLayout
      typealias Failure = Never
      func callAsFunction<O: LearnedOptimizer>(_: O.Type, _ configuration: O.Configuration)
        -> ParameterLayout
      {
        O.metaParameterLayout(for: configuration)
      }
    }
    return apply(Layout())
  }

  /// The most meta-parameters a configuration may have (2²⁴, 64 MiB of `Float`): over 30 times
  /// the released VeLO, small enough that meta-training several copies stays far below 1 GB.
  public static let maximumMetaParameterCount = 1 << 24

  /// Throws unless the kind's own checks pass and the sizes are small enough to build.
  ///
  /// Each kind bounds its widths and template counts by 4096 and layer counts by 64 before the
  /// layout is computed (`bound(_:_:_:in:)`), so that hostile
  /// sizes (negative, 2⁶², 10⁹) fail with a message instead of overflowing; the layout's total
  /// is then bounded by ``maximumMetaParameterCount``.
  ///
  /// - Throws: ``ArchitectureError`` naming the setting.
  public func validate() throws {
    struct Validate: LearnedOptimizerOperation {
      typealias Result = Void
      typealias Failure = any Error
      func callAsFunction<O: LearnedOptimizer>(_: O.Type, _ configuration: O.Configuration) throws {
        try O.validate(configuration)
      }
    }
    try apply(Validate())
    let count = metaParameterLayout.totalCount
    guard count <= Self.maximumMetaParameterCount else {
      throw ArchitectureError(
        "the \(kind.rawValue) configuration \(json()) has \(count) meta-parameters, "
          + "more than the \(Self.maximumMetaParameterCount) allowed "
          + "(\(count / (1 << 18)) MiB of Float32 per copy)")
    }
  }

  /// ``validate()`` for a checkpoint's architecture.
  ///
  /// - Throws: ``CheckpointError/architectureMismatch(reason:)`` with the reason.
  func validateAsCheckpoint() throws {
    do {
      try validate()
    } catch let error as ArchitectureError {
      throw CheckpointError.architectureMismatch(reason: error.reason)
    }
  }

  /// Throws unless `value`, the setting `name` of a `kind` configuration, lies in `range`.
  static func bound(
    _ name: String, _ value: Int, _ range: ClosedRange<Int>, in kind: LearnedOptimizerKind
  ) throws {
    guard range.contains(value) else {
      throw ArchitectureError(
        "\(kind.rawValue) \(name) is \(value), expected \(range.lowerBound)...\(range.upperBound)")
    }
  }

  /// The bound of widths and template counts.
  static let widthBound = 1...4096
  /// The bound of layer counts.
  static let layerBound = 0...64
  /// The bound of decay counts.
  static let decayBound = 1...16

  /// The configuration as compact JSON with sorted keys (the safetensors metadata value).
  public func json() -> String {
    struct Encode: LearnedOptimizerOperation {
      typealias Result = Data
      typealias Failure = any Error
      func callAsFunction<O: LearnedOptimizer>(_: O.Type, _ configuration: O.Configuration) throws
        -> Data
      {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(configuration)
      }
    }
    do {
      return String(decoding: try apply(Encode()), as: UTF8.self)
    } catch {
      preconditionFailure("a learned-optimizer configuration failed to encode: \(error)")
    }
  }

  /// Decodes the configuration of `kind` from ``json()``'s output.
  ///
  /// - Throws: ``CheckpointError/unrecognizedFormat(reason:)`` if the JSON does not decode.
  public init(kind: LearnedOptimizerKind, json: String) throws {
    func decode<O: LearnedOptimizer>(_: O.Type) throws -> LearnedOptimizerConfiguration {
      O.wrap(try JSONDecoder().decode(O.Configuration.self, from: Data(json.utf8)))
    }
    do {
      self = try decode(kind.optimizerType)
    } catch {
      throw CheckpointError.unrecognizedFormat(
        reason: "the \(kind.rawValue) configuration in the metadata does not decode: \(error)")
    }
  }
}

// MARK: - Every kind's entry in the registry

extension MLPLOpt {
  /// ``LearnedOptimizerKind/mlpLOpt``.
  public static var kind: LearnedOptimizerKind { .mlpLOpt }
  /// The architecture as ``LearnedOptimizerConfiguration/mlpLOpt(_:)``.
  public static func wrap(_ configuration: Configuration) -> LearnedOptimizerConfiguration {
    .mlpLOpt(configuration)
  }
  /// The MLPLOpt architecture `architecture` holds, if any.
  public static func configuration(in architecture: LearnedOptimizerConfiguration) -> Configuration?
  {
    if case .mlpLOpt(let configuration) = architecture { configuration } else { nil }
  }
  /// Bounds the sizes, then the architecture's own checks.
  public static func validate(_ configuration: Configuration) throws {
    typealias Bounds = LearnedOptimizerConfiguration
    try Bounds.bound("hiddenSize", configuration.hiddenSize, Bounds.widthBound, in: kind)
    try Bounds.bound("hiddenLayers", configuration.hiddenLayers, Bounds.layerBound, in: kind)
    try Bounds.bound(
      "momentumDecays.count", configuration.momentumDecays.count, Bounds.decayBound, in: kind)
    try configuration.validate()
  }
}

extension AdafacMLP {
  /// ``LearnedOptimizerKind/adafacMLP``.
  public static var kind: LearnedOptimizerKind { .adafacMLP }
  /// The architecture as ``LearnedOptimizerConfiguration/adafacMLP(_:)``.
  public static func wrap(_ configuration: Configuration) -> LearnedOptimizerConfiguration {
    .adafacMLP(configuration)
  }
  /// The AdafacMLP architecture `architecture` holds, if any.
  public static func configuration(in architecture: LearnedOptimizerConfiguration) -> Configuration?
  {
    if case .adafacMLP(let configuration) = architecture { configuration } else { nil }
  }
  /// Bounds the sizes, then the architecture's own checks.
  public static func validate(_ configuration: Configuration) throws {
    typealias Bounds = LearnedOptimizerConfiguration
    try Bounds.bound("hiddenSize", configuration.hiddenSize, Bounds.widthBound, in: kind)
    try Bounds.bound("hiddenLayers", configuration.hiddenLayers, Bounds.layerBound, in: kind)
    try Bounds.bound(
      "initialMomentumDecays.count", configuration.initialMomentumDecays.count,
      Bounds.decayBound, in: kind)
    try configuration.validate()
  }
}

extension VeLO {
  /// ``LearnedOptimizerKind/velo``.
  public static var kind: LearnedOptimizerKind { .velo }
  /// The architecture as ``LearnedOptimizerConfiguration/velo(_:)``.
  public static func wrap(_ configuration: Configuration) -> LearnedOptimizerConfiguration {
    .velo(configuration)
  }
  /// The VeLO architecture `architecture` holds, if any.
  public static func configuration(in architecture: LearnedOptimizerConfiguration) -> Configuration?
  {
    if case .velo(let configuration) = architecture { configuration } else { nil }
  }
  /// Bounds the sizes, then the architecture's own checks (as an ``ArchitectureError``).
  public static func validate(_ configuration: Configuration) throws {
    typealias Bounds = LearnedOptimizerConfiguration
    try Bounds.bound("lstmHiddenSize", configuration.lstmHiddenSize, Bounds.widthBound, in: kind)
    try Bounds.bound("paramInits", configuration.paramInits, Bounds.widthBound, in: kind)
    do {
      try configuration.validate()
    } catch let error as VeLOError {
      throw ArchitectureError(error.description)
    }
  }
}

extension ScheduledAdamLOpt {
  /// ``LearnedOptimizerKind/scheduledAdam``.
  public static var kind: LearnedOptimizerKind { .scheduledAdam }
  /// The architecture as ``LearnedOptimizerConfiguration/scheduledAdam(_:)``.
  public static func wrap(_ configuration: Configuration) -> LearnedOptimizerConfiguration {
    .scheduledAdam(configuration)
  }
  /// The ScheduledAdamLOpt architecture `architecture` holds, if any.
  public static func configuration(in architecture: LearnedOptimizerConfiguration) -> Configuration?
  {
    if case .scheduledAdam(let configuration) = architecture { configuration } else { nil }
  }
  /// The architecture's own checks.
  public static func validate(_ configuration: Configuration) throws {
    try configuration.validate()
  }
}
