import LoptCore
import LoptOptimizers

extension Checkpoint {
  /// The learned optimizer the checkpoint holds, ready to train with.
  ///
  /// - Throws: ``CheckpointError`` when the meta-parameters do not fit the architecture.
  public func makeOptimizer() throws -> any Optimizer {
    struct Make: LearnedOptimizerOperation {
      typealias Result = any Optimizer
      typealias Failure = any Error
      let metaParameters: ParameterSet
      func callAsFunction<O: LearnedOptimizer>(_: O.Type, _ configuration: O.Configuration) throws
        -> any Optimizer
      {
        try O(configuration: configuration, metaParameters: metaParameters)
      }
    }
    return try configuration.apply(Make(metaParameters: metaParameters))
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
