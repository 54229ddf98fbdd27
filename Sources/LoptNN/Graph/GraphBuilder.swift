import LoptCore

/// Records a model as a static tape of parameters, values and operations.
///
/// Every buffer is sized for one batch size; ``build(loss:)`` then allocates everything once.
///
/// Layers are `mutating` extension methods that register parameters, make output values and
/// append an operation:
///
/// ```swift
/// var builder = GraphBuilder(batchSize: 128)
/// let x = builder.input(shape: [128, 64])
/// let labels = builder.input(shape: [128])
/// let h = builder.activation(.relu, builder.linear(x, outputCount: 32, name: "hidden"))
/// let loss = builder.softmaxCrossEntropy(logits: builder.linear(h, outputCount: 10, name: "out"),
///                                        labels: labels)
/// let graph = builder.build(loss: loss)
/// ```
public struct GraphBuilder {
  /// The batch size every value is sized for.
  public let batchSize: Int
  private(set) var parameters: [(name: String, shape: [Int])] = []
  private(set) var initializers: [Initializer] = []
  private(set) var states: [(name: String, shape: [Int], initialValue: Float)] = []
  private(set) var operations: [any GraphOperation] = []
  private(set) var inputs: [GraphValue] = []
  private(set) var problems: [String] = []
  private var parameterCount = 0
  private var stateCount = 0
  private var valueCount = 0
  private var gradientCount = 0

  /// Starts an empty graph for the given batch size.
  public init(batchSize: Int) {
    precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
    self.batchSize = batchSize
  }

  /// The names of the parameters registered so far, in order.
  public var parameterNames: [String] { parameters.map(\.name) }

  /// Adds an input slot that callers fill before each step (images, labels, tokens).
  ///
  /// Class labels and tokens are stored as `Float` (exact below 2²⁴).
  /// - Parameters:
  ///   - shape: the slot's shape, batch axis first.
  ///   - requiresGradient: attach a gradient, for example to check input gradients.
  /// - Returns: the slot.
  public mutating func input(shape: [Int], requiresGradient: Bool = false) -> GraphValue {
    let value = makeValue(shape: shape, hasGradient: requiresGradient)
    inputs.append(value)
    return value
  }

  /// Reserves a value slot (and a gradient slot unless `hasGradient` is false) for an operation.
  ///
  /// A shape with an empty axis is recorded as a problem (see ``build(loss:)``) and the slot
  /// is made with every extent at least 1, so building can go on and report everything at once.
  public mutating func makeValue(shape: [Int], hasGradient: Bool = true) -> GraphValue {
    let shape =
      check(shape.allSatisfy { $0 > 0 }, "a value of shape \(shape) has an empty axis")
      ? shape : shape.map { max($0, 1) }
    let count = shape.reduce(1, *)
    let value = GraphValue(
      shape: shape, offset: valueCount, gradientOffset: hasGradient ? gradientCount : nil)
    valueCount += Self.aligned(count)
    if hasGradient { gradientCount += Self.aligned(count) }
    return value
  }

  /// Registers a trainable tensor under a unique name with its initializer.
  public mutating func parameter(
    _ name: String, shape: [Int], initializer: Initializer
  ) -> GraphParameter {
    check(!parameters.contains { $0.name == name }, "parameter name '\(name)' is already used")
    let parameter = GraphParameter(name: name, shape: shape, offset: parameterCount)
    parameters.append((name, shape))
    initializers.append(initializer)
    parameterCount += parameter.count
    return parameter
  }

  /// Registers a persistent non-trainable tensor (running statistics) with its initial value.
  public mutating func state(_ name: String, shape: [Int], initialValue: Float) -> GraphState {
    check(!states.contains { $0.name == name }, "state name '\(name)' is already used")
    let state = GraphState(name: name, shape: shape, offset: stateCount)
    states.append((name, shape, initialValue))
    stateCount += state.count
    return state
  }

  /// Appends an operation to the tape; operations run forward in the order appended.
  public mutating func append(_ operation: some GraphOperation) {
    operations.append(operation)
  }

  /// Records a problem with the model being built unless `condition` holds.
  ///
  /// Layers check their inputs' shapes with this instead of trapping, then carry on with a
  /// placeholder, so that ``build(loss:)`` can report every problem at once as a
  /// ``GraphError``: a model built from a user's description fails with a message, not a crash.
  /// - Returns: `condition`, so a layer can return early when it fails.
  @discardableResult
  public mutating func check(
    _ condition: Bool, _ problem: @autoclosure () -> String
  ) -> Bool {
    if !condition { problems.append(problem()) }
    return condition
  }

  /// Allocates every buffer and returns the runnable graph whose objective is `loss`.
  ///
  /// - Parameter loss: a one-element value with a gradient slot, made by this builder.
  /// - Returns: the graph.
  /// - Throws: ``GraphError`` listing every problem the layers recorded with ``check(_:_:)``.
  public func build(loss: GraphValue) throws -> Graph {
    var problems = self.problems
    if loss.count != 1 || !loss.hasGradient {
      problems.append("the loss must be a scalar with a gradient, got shape \(loss.shape)")
    }
    if loss.offset >= valueCount {
      problems.append(
        "the loss was not made by this builder (build it in its own statement, not as an argument)")
    }
    guard problems.isEmpty else { throw GraphError(problems: problems) }
    return Graph(
      batchSize: batchSize,
      layout: ParameterLayout(parameters),
      initializers: initializers,
      stateLayout: ParameterLayout(states.map { ($0.name, $0.shape) }),
      initialState: states.flatMap {
        [Float](repeating: $0.initialValue, count: $0.shape.reduce(1, *))
      },
      operations: operations, inputs: inputs, loss: loss,
      valueCount: valueCount, gradientCount: gradientCount)
  }

  /// Rounds a slot up to 16 floats (64 bytes) so every value starts on a cache line.
  private static func aligned(_ count: Int) -> Int { (count + 15) & ~15 }
}
