extension GraphBuilder {
  /// Appends a multi-layer perceptron over the last axis of `input`: each hidden width is a
  /// dense layer followed by `activation`, then a dense output layer without activation.
  ///
  /// Parameters are named `name/linear_k/w` and `name/linear_k/b`, with `k` counting from 0
  /// through the output layer.
  public mutating func mlp(
    _ input: GraphValue, hiddenWidths: [Int], outputCount: Int, activation: Activation,
    name: String, weightInitializer: Initializer = .lecunNormal
  ) -> GraphValue {
    var x = input
    for (k, width) in (hiddenWidths + [outputCount]).enumerated() {
      x = linear(
        x, outputCount: width, name: "\(name)/linear_\(k)", weightInitializer: weightInitializer)
      if k < hiddenWidths.count { x = self.activation(activation, x) }
    }
    return x
  }
}
