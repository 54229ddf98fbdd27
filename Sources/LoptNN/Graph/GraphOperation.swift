import LoptCore

/// One coarse node of a static tape: a layer or loss with a hand-written backward pass.
///
/// An operation holds only offsets into the graph's buffers (never pointers), so it is a plain
/// value made once at build time. `forward` writes its outputs; `backward` reads its output
/// gradients and *adds* into the gradients of its inputs and parameters, so a value used twice
/// (a residual branch, a tied embedding) collects both contributions.
public protocol GraphOperation {
  /// Computes the outputs from the inputs and parameters.
  func forward(_ context: GraphContext)
  /// Accumulates input and parameter gradients from the output gradients.
  func backward(_ context: GraphContext)
}

/// The buffers one step runs over, handed to every ``GraphOperation``.
///
/// Operations address memory through ``GraphValue``, ``GraphParameter`` and ``GraphState``
/// offsets; the accessors below turn them into pointers.
public struct GraphContext {
  /// The flat parameter buffer (layout order).
  public let parameters: UnsafePointer<Float>
  /// The flat parameter-gradient buffer, same layout; `nil` during forward-only passes.
  public let parameterGradients: UnsafeMutablePointer<Float>?
  /// Activations, inputs and scratch.
  public let values: UnsafeMutablePointer<Float>
  /// Gradients of the values that carry one.
  public let gradients: UnsafeMutablePointer<Float>
  /// Persistent non-trainable model state.
  public let state: UnsafeMutablePointer<Float>
  /// Training mode (dropout active, BatchNorm uses and updates batch statistics) or evaluation.
  public let isTraining: Bool
  /// Randomness for this step (dropout masks); fold in an operation's own index before use.
  public let key: RandomKey

  /// The elements of `value`.
  @inlinable
  public func pointer(_ value: GraphValue) -> UnsafeMutablePointer<Float> {
    values + value.offset
  }

  /// The gradient of `value`, or `nil` if it carries none.
  @inlinable
  public func gradient(_ value: GraphValue) -> UnsafeMutablePointer<Float>? {
    value.gradientOffset.map { gradients + $0 }
  }

  /// The elements of a parameter.
  @inlinable
  public func pointer(_ parameter: GraphParameter) -> UnsafePointer<Float> {
    parameters + parameter.offset
  }

  /// The gradient of a parameter, or `nil` during forward-only passes.
  @inlinable
  public func gradient(_ parameter: GraphParameter) -> UnsafeMutablePointer<Float>? {
    parameterGradients.map { $0 + parameter.offset }
  }

  /// The elements of a model-state tensor.
  @inlinable
  public func pointer(_ state: GraphState) -> UnsafeMutablePointer<Float> {
    self.state + state.offset
  }
}
