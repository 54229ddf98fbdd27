import LoptNN

/// The analytic cost of one training step (forward and backward) of a task.
///
/// Counted per layer while the model is recorded, so it needs no data and no buffers.
public struct TaskCost: Codable, Hashable, Sendable {
  /// Multiply-add work of the matrix products, forward and backward (2 FLOPs per multiply-add,
  /// backward twice the forward).
  public var flops: Double = 0
  /// Activation elements written by the forward pass (each is also read and its gradient
  /// written by the backward pass).
  public var activations: Double = 0
  /// Trainable parameters.
  public var parameters: Double = 0
  /// Kernel calls: coarse operations plus the per-head and per-time-step matrix products of
  /// attention and LSTMs (each carries a fixed overhead).
  public var operations: Double = 0
  /// Elements passed through `exp`, `tanh`, `sin` and the like (libm calls, ~10 ns each).
  public var transcendentals: Double = 0
  /// The family whose model this is, if any (the cost model may scale families differently).
  public var family: TaskFamily?

  /// No work.
  public init() {}

  /// Bytes moved per step: every activation and parameter read and written about three times
  /// (forward, backward, update) in `Float32`.
  public var bytes: Double { 12 * (activations + parameters) }
}

/// Records a model on a ``GraphBuilder`` and tallies its ``TaskCost`` layer by layer.
///
/// Every family builds through these helpers, so the cost model and the graph cannot disagree.
struct ModelBuilder {
  var graph: GraphBuilder
  var cost = TaskCost()
  /// The family's sampled weight initialiser (or its default).
  var weights: Initializer
  /// The family's sampled activation.
  let activation: Activation

  init(batchSize: Int, weights: Initializer, activation: Activation) {
    graph = GraphBuilder(batchSize: batchSize)
    self.weights = weights
    self.activation = activation
  }

  /// Counts an operation writing `output`, with `multiplyAdds` forward multiply-adds,
  /// `transcendentals` libm evaluations and `calls` kernel calls (forward and backward).
  mutating func record(
    _ output: GraphValue, multiplyAdds: Double = 0, transcendentals: Double = 0,
    calls: Double = 1
  ) {
    cost.operations += calls
    cost.activations += Double(output.count)
    cost.flops += 6 * multiplyAdds
    cost.transcendentals += transcendentals
  }

  mutating func dense(
    _ x: GraphValue, _ outputCount: Int, name: String, initializer: Initializer? = nil
  ) -> GraphValue {
    let inputCount = x.shape.last ?? 1
    let y = graph.linear(
      x, outputCount: outputCount, name: name, weightInitializer: initializer ?? weights)
    cost.parameters += Double((inputCount + 1) * outputCount)
    record(y, multiplyAdds: Double(x.count * outputCount))
    return y
  }

  mutating func activate(_ x: GraphValue, _ function: Activation? = nil) -> GraphValue {
    let function = function ?? activation
    let y = graph.activation(function, x)
    record(y, transcendentals: function.libmCalls * Double(y.count))
    return y
  }

  /// Dense layers with the activation after each hidden one (LoptNN's `mlp` naming).
  mutating func mlp(
    _ x: GraphValue, hiddenWidths: [Int], outputCount: Int, name: String
  ) -> GraphValue {
    var y = x
    for (k, width) in (hiddenWidths + [outputCount]).enumerated() {
      y = dense(y, width, name: "\(name)/linear_\(k)")
      if k < hiddenWidths.count { y = activate(y) }
    }
    return y
  }

  mutating func conv(
    _ x: GraphValue, _ channels: Int, kernel: Int, stride: Int = 1, name: String,
    initializer: Initializer? = nil, hasBias: Bool = true
  ) -> GraphValue {
    let inputChannels = x.shape.last ?? 1
    let y = graph.conv2D(
      x, outputChannels: channels, kernelSize: kernel, stride: stride, name: name,
      weightInitializer: initializer ?? weights, hasBias: hasBias)
    cost.parameters += Double((kernel * kernel * inputChannels + (hasBias ? 1 : 0)) * channels)
    record(y, multiplyAdds: Double(y.count * kernel * kernel * inputChannels))
    // im2col forward and col2im backward move the column matrix twice.
    cost.activations += 2 * Double(y.count / channels * kernel * kernel * inputChannels)
    return y
  }

  mutating func batchNorm(_ x: GraphValue, name: String) -> GraphValue {
    let y = graph.batchNorm(x, name: name)
    cost.parameters += Double(2 * (x.shape.last ?? 1))
    record(y)
    return y
  }

  mutating func layerNorm(_ x: GraphValue, name: String) -> GraphValue {
    let y = graph.layerNorm(x, name: name)
    cost.parameters += Double(2 * (x.shape.last ?? 1))
    record(y)
    return y
  }

  mutating func add(_ lhs: GraphValue, _ rhs: GraphValue) -> GraphValue {
    let y = graph.add(lhs, rhs)
    record(y)
    return y
  }

  /// A pre-LayerNorm transformer block, counted as its parts (projections, attention, MLP).
  mutating func transformerBlock(
    _ x: GraphValue, heads: Int, keySize: Int, mlpWidth: Int, dropoutRate: Float,
    isCausal: Bool, name: String
  ) -> GraphValue {
    let (batch, time, width) = (x.shape[0], x.shape[1], x.shape[2])
    let y = graph.transformerBlock(
      x, heads: heads, keySize: keySize, mlpWidth: mlpWidth, dropoutRate: dropoutRate,
      isCausal: isCausal, name: name, weightInitializer: weights)
    let rows = Double(batch * time)
    let projected = Double(heads * keySize)
    let dense = 4 * Double(width) * projected + 2 * Double(width * mlpWidth)
    cost.parameters += dense + 3 * projected + Double(mlpWidth + 6 * width)
    let scores = Double(batch * heads * time * time)
    cost.operations += 12 + 6 * Double(batch * heads)
    cost.activations += rows * (8 * Double(width) + 4 * projected + 2 * Double(mlpWidth)) + scores
    // Softmax exponentials; GELU forward and backward; a Philox block per dropout element.
    let dropped = dropoutRate > 0 ? 4 * rows * Double(width) : 0
    cost.transcendentals += scores + Activation.gelu.libmCalls * rows * Double(mlpWidth) + dropped
    cost.flops += 6 * (rows * dense + 2 * Double(batch * heads * time * time * keySize))
    return y
  }

  mutating func softmaxCrossEntropy(
    logits: GraphValue, labels: GraphValue, mask: GraphValue? = nil
  ) -> GraphValue {
    let loss = graph.softmaxCrossEntropy(logits: logits, labels: labels, mask: mask)
    record(logits, transcendentals: Double(logits.count))
    return loss
  }
}

extension Activation {
  /// libm-call equivalents per element, forward and backward (the backward pass re-evaluates
  /// the function for its derivative; GELU's `tanhf` costs about two `expf`).
  fileprivate var libmCalls: Double {
    switch self {
    case .identity, .relu, .relu6, .leakyRelu: 0
    case .gelu: 4
    default: 2
    }
  }
}
