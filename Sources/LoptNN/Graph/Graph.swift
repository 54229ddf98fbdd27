import LoptCore

/// A built model: a static tape of operations over buffers allocated once for one batch size.
///
/// Each step fills the inputs, then replays the tape forward and in reverse. Nothing is
/// allocated per step. A graph is owned by one thread at a time; parallel workers build their
/// own.
public final class Graph {
  /// The batch size the buffers are sized for.
  public let batchSize: Int
  /// The trainable tensors in registration order.
  public let layout: ParameterLayout
  /// The scalar objective.
  public let loss: GraphValue
  /// The input slots in the order they were added.
  public let inputs: [GraphValue]
  /// Persistent non-trainable tensors (running statistics); part of a model checkpoint.
  public var modelState: ParameterSet

  private let initializers: [Initializer]
  private let operations: [any GraphOperation]
  private let values: UnsafeMutableBufferPointer<Float>
  private let gradients: UnsafeMutableBufferPointer<Float>

  init(
    batchSize: Int, layout: ParameterLayout, initializers: [Initializer],
    stateLayout: ParameterLayout, initialState: [Float],
    operations: [any GraphOperation], inputs: [GraphValue], loss: GraphValue,
    valueCount: Int, gradientCount: Int
  ) {
    self.batchSize = batchSize
    self.layout = layout
    self.initializers = initializers
    modelState = ParameterSet(
      layout: stateLayout, flat: Tensor(shape: [initialState.count], scalars: initialState))
    self.operations = operations
    self.inputs = inputs
    self.loss = loss
    values = .allocate(capacity: max(valueCount, 1))
    values.initialize(repeating: 0)
    gradients = .allocate(capacity: max(gradientCount, 1))
    gradients.initialize(repeating: 0)
  }

  deinit {
    values.deallocate()
    gradients.deallocate()
  }

  /// Fresh parameters drawn with each tensor's initializer; tensor `i` uses `key.folding(in: i)`.
  public func initialParameters(key: RandomKey) -> ParameterSet {
    var parameters = ParameterSet(layout: layout)
    for (index, entry) in layout.entries.enumerated() {
      parameters.withUnsafeMutableBufferPointer(ofTensor: index) {
        initializers[index].fill($0, shape: entry.shape, key: key.folding(in: UInt64(index)))
      }
    }
    return parameters
  }

  /// Copies `source` into the input (or any value) slot `value`.
  ///
  /// - Complexity: O(count); allocates nothing.
  public func setValue(_ value: GraphValue, from source: UnsafeBufferPointer<Float>) {
    precondition(
      source.count == value.count,
      "value of shape \(value.shape) needs \(value.count) elements, got \(source.count)")
    (values.baseAddress! + value.offset).update(from: source.baseAddress!, count: value.count)
  }

  /// Copies `tensor` into the slot `value`; the element counts must agree.
  public func setValue(_ value: GraphValue, to tensor: Tensor) {
    tensor.withUnsafeBufferPointer { setValue(value, from: $0) }
  }

  /// Calls `body` with the current contents of a value, in place.
  ///
  /// - Complexity: allocates nothing.
  public func withValue<R>(_ value: GraphValue, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
    body(UnsafeBufferPointer(rebasing: values[value.offset..<(value.offset + value.count)]))
  }

  /// The current contents of a value, copied out (for tests and inspection).
  public func value(_ value: GraphValue) -> Tensor {
    Tensor(
      shape: value.shape,
      scalars: Array(values[value.offset..<(value.offset + value.count)]))
  }

  /// The gradient of a value from the last backward pass, or `nil` if it carries none.
  public func gradient(of value: GraphValue) -> Tensor? {
    value.gradientOffset.map {
      Tensor(shape: value.shape, scalars: Array(gradients[$0..<($0 + value.count)]))
    }
  }

  /// Runs the tape forward and returns the loss.
  ///
  /// - Parameters:
  ///   - parameters: the trainable tensors, in this graph's layout.
  ///   - isTraining: training mode (dropout on, batch statistics) or evaluation mode.
  ///   - key: this step's randomness (dropout).
  /// - Returns: the loss.
  /// - Complexity: allocates nothing.
  public func forward(
    _ parameters: ParameterSet, isTraining: Bool = false, key: RandomKey = RandomKey(seed: 0)
  ) -> Float {
    checkLayout(parameters)
    return parameters.withUnsafeBufferPointer { p in
      modelState.withUnsafeMutableBufferPointer { s in
        let context = makeContext(p, nil, s, isTraining: isTraining, key: key)
        for operation in operations { operation.forward(context) }
        return values[loss.offset]
      }
    }
  }

  /// Runs the tape forward in training mode and then in reverse; writes the gradient of the
  /// loss with respect to every parameter into `gradients` and returns the loss.
  ///
  /// - Complexity: allocates nothing once `gradients` is uniquely owned.
  public func lossAndGradient(
    _ parameters: ParameterSet, into gradients: inout ParameterSet,
    key: RandomKey = RandomKey(seed: 0)
  ) -> Float {
    checkLayout(parameters)
    checkLayout(gradients)
    self.gradients.update(repeating: 0)
    return parameters.withUnsafeBufferPointer { p in
      gradients.withUnsafeMutableBufferPointer { g in
        g.update(repeating: 0)
        return modelState.withUnsafeMutableBufferPointer { s in
          let context = makeContext(p, g.baseAddress, s, isTraining: true, key: key)
          for operation in operations { operation.forward(context) }
          self.gradients[loss.gradientOffset!] = 1
          for operation in operations.reversed() { operation.backward(context) }
          return values[loss.offset]
        }
      }
    }
  }

  private func makeContext(
    _ parameters: UnsafeBufferPointer<Float>, _ parameterGradients: UnsafeMutablePointer<Float>?,
    _ state: UnsafeMutableBufferPointer<Float>, isTraining: Bool, key: RandomKey
  ) -> GraphContext {
    GraphContext(
      parameters: parameters.baseAddress!, parameterGradients: parameterGradients,
      values: values.baseAddress!, gradients: gradients.baseAddress!,
      state: state.baseAddress!, isTraining: isTraining, key: key)
  }

  private func checkLayout(_ parameters: ParameterSet) {
    precondition(
      parameters.count == layout.totalCount && parameters.layout.count == layout.count,
      "parameters of \(parameters.count) elements in \(parameters.layout.count) tensors do not "
        + "fit this graph's layout of \(layout.totalCount) elements in \(layout.count) tensors")
  }
}
