import Foundation
import LoptCore
import LoptOptimizers

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

  /// The kind of optimizer.
  public var kind: LearnedOptimizerKind {
    switch self {
    case .mlpLOpt: return .mlpLOpt
    case .adafacMLP: return .adafacMLP
    case .velo: return .velo
    case .scheduledAdam: return .scheduledAdam
    }
  }

  /// The meta-parameter layout (reference tree names, JAX leaf order) of the architecture.
  public var metaParameterLayout: ParameterLayout {
    switch self {
    case .mlpLOpt(let configuration): return MLPLOpt.metaParameterLayout(for: configuration)
    case .adafacMLP(let configuration): return AdafacMLP.metaParameterLayout(for: configuration)
    case .velo(let configuration): return VeLO.metaParameterLayout(for: configuration)
    case .scheduledAdam(let configuration):
      return ScheduledAdamLOpt.metaParameterLayout(for: configuration)
    }
  }

  /// The most meta-parameters a configuration may have (2²⁴, 64 MiB of `Float`): over 30 times
  /// the released VeLO, small enough that meta-training several copies stays far below 1 GB.
  public static let maximumMetaParameterCount = 1 << 24

  /// Throws unless the kind's own checks pass and the sizes are small enough to build.
  ///
  /// Widths and template counts are bounded by 4096 and layer counts by 64 before the layout
  /// is computed, so that hostile sizes (negative, 2⁶², 10⁹) fail with a message instead of
  /// overflowing; the layout's total is then bounded by ``maximumMetaParameterCount``.
  ///
  /// - Throws: ``CheckpointError/architectureMismatch(reason:)`` naming the setting.
  public func validate() throws {
    func bound(_ name: String, _ value: Int, _ range: ClosedRange<Int>) throws {
      guard range.contains(value) else {
        throw CheckpointError.architectureMismatch(
          reason: "\(kind.rawValue) \(name) is \(value), expected \(range.lowerBound)..."
            + "\(range.upperBound)")
      }
    }
    let (width, layers, decays) = (1...4096, 0...64, 1...16)
    switch self {
    case .mlpLOpt(let configuration):
      try bound("hiddenSize", configuration.hiddenSize, width)
      try bound("hiddenLayers", configuration.hiddenLayers, layers)
      try bound("momentumDecays.count", configuration.momentumDecays.count, decays)
      try configuration.validate()
    case .adafacMLP(let configuration):
      try bound("hiddenSize", configuration.hiddenSize, width)
      try bound("hiddenLayers", configuration.hiddenLayers, layers)
      try bound("initialMomentumDecays.count", configuration.initialMomentumDecays.count, decays)
      try configuration.validate()
    case .velo(let configuration):
      try bound("lstmHiddenSize", configuration.lstmHiddenSize, width)
      try bound("paramInits", configuration.paramInits, width)
      do {
        try configuration.validate()
      } catch let error as VeLOError {
        throw CheckpointError.architectureMismatch(reason: error.description)
      }
    case .scheduledAdam(let configuration):
      try configuration.validate()
    }
    let count = metaParameterLayout.totalCount
    guard count <= Self.maximumMetaParameterCount else {
      throw CheckpointError.architectureMismatch(
        reason: "the \(kind.rawValue) configuration \(json()) has \(count) meta-parameters, "
          + "more than the \(Self.maximumMetaParameterCount) allowed "
          + "(\(count / (1 << 18)) MiB of Float32 per copy)")
    }
  }

  /// The configuration as compact JSON with sorted keys (the safetensors metadata value).
  public func json() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data: Data
    do {
      switch self {
      case .mlpLOpt(let configuration): data = try encoder.encode(configuration)
      case .adafacMLP(let configuration): data = try encoder.encode(configuration)
      case .velo(let configuration): data = try encoder.encode(configuration)
      case .scheduledAdam(let configuration): data = try encoder.encode(configuration)
      }
    } catch {
      preconditionFailure("a learned-optimizer configuration failed to encode: \(error)")
    }
    return String(decoding: data, as: UTF8.self)
  }

  /// Decodes the configuration of `kind` from ``json()``'s output.
  ///
  /// - Throws: ``CheckpointError/unrecognizedFormat(reason:)`` if the JSON does not decode.
  public init(kind: LearnedOptimizerKind, json: String) throws {
    let decoder = JSONDecoder()
    let data = Data(json.utf8)
    do {
      switch kind {
      case .mlpLOpt: self = .mlpLOpt(try decoder.decode(MLPLOpt.Configuration.self, from: data))
      case .adafacMLP:
        self = .adafacMLP(try decoder.decode(AdafacMLP.Configuration.self, from: data))
      case .velo: self = .velo(try decoder.decode(VeLO.Configuration.self, from: data))
      case .scheduledAdam:
        self = .scheduledAdam(
          try decoder.decode(ScheduledAdamLOpt.Configuration.self, from: data))
      }
    } catch {
      throw CheckpointError.unrecognizedFormat(
        reason: "the \(kind.rawValue) configuration in the metadata does not decode: \(error)")
    }
  }
}

extension Checkpoint {
  /// The learned optimizer the checkpoint holds, ready to train with.
  ///
  /// - Throws: ``CheckpointError`` when the meta-parameters do not fit the architecture.
  public func makeOptimizer() throws -> any Optimizer {
    switch configuration {
    case .velo(let configuration):
      try VeLO(configuration: configuration, metaParameters: metaParameters)
    case .mlpLOpt(let configuration):
      try MLPLOpt(configuration: configuration, metaParameters: metaParameters)
    case .adafacMLP(let configuration):
      try AdafacMLP(configuration: configuration, metaParameters: metaParameters)
    case .scheduledAdam(let configuration):
      try ScheduledAdamLOpt(configuration: configuration, metaParameters: metaParameters)
    }
  }

  /// The checkpoint's learned optimizer as the type the caller expects:
  /// `try Checkpoint.load(url).optimizer(as: VeLO.self)`.
  ///
  /// - Throws: ``CheckpointError`` when the checkpoint holds another kind or its
  ///   meta-parameters do not fit the architecture.
  public func optimizer<O: LearnedOptimizer>(as type: O.Type) throws -> O {
    guard let optimizer = try makeOptimizer() as? O else {
      throw CheckpointError.architectureMismatch(
        reason: "the checkpoint holds a \(kind.rawValue), not a \(O.self)")
    }
    return optimizer
  }
}
