import LoptCore
import LoptOptimizers

/// An optimizer whose update rule is itself parameterised by meta-parameters θ.
///
/// The configuration (architecture: widths, decays) is fixed when the optimizer is made; θ is
/// one contiguous `ParameterSet`, so evolution strategies perturb and update its flat buffer
/// directly and a checkpoint is θ plus the configuration.
public protocol LearnedOptimizer: Optimizer {
  /// The architecture and its hyper-parameters.
  associatedtype Configuration: Codable & Sendable & Equatable

  /// The kind checkpoints and configuration files name this optimizer by.
  static var kind: LearnedOptimizerKind { get }

  /// The meta-parameter layout of `configuration`: reference tree names, JAX leaf order.
  static func metaParameterLayout(for configuration: Configuration) -> ParameterLayout

  /// `configuration` as an architecture of any kind.
  static func wrap(_ configuration: Configuration) -> LearnedOptimizerConfiguration

  /// The configuration `architecture` holds, when it is of this kind.
  static func configuration(in architecture: LearnedOptimizerConfiguration) -> Configuration?

  /// Throws unless `configuration` can be built: its sizes are sane and its settings supported.
  ///
  /// - Throws: ``ArchitectureError`` naming the setting.
  static func validate(_ configuration: Configuration) throws

  /// The architecture this optimizer was built with.
  var configuration: Configuration { get }

  /// The meta-parameters θ, in the reference implementation's tree names.
  var metaParameters: ParameterSet { get set }

  /// Creates the optimizer from its architecture and meta-parameters.
  ///
  /// - Throws: when `metaParameters` does not have the layout `configuration` implies.
  init(configuration: Configuration, metaParameters: ParameterSet) throws

  /// Meta-parameters drawn from the reference initialisation for `configuration`.
  static func initialMetaParameters(
    for configuration: Configuration, key: RandomKey
  ) -> ParameterSet
}

extension LearnedOptimizer {
  /// The first step of an initialiser: checks `configuration` (``validate(_:)``, sizes first)
  /// and that `metaParameters` has exactly its layout, and returns that layout.
  ///
  /// - Throws: ``ArchitectureError`` naming the setting, or ``CheckpointError`` naming the
  ///   first mismatching tensor.
  static func checkedLayout(
    _ configuration: Configuration, _ metaParameters: ParameterSet
  ) throws -> ParameterLayout {
    try validate(configuration)
    let layout = metaParameterLayout(for: configuration)
    try MetaParameterTree.validate(metaParameters, against: layout)
    return layout
  }
}
