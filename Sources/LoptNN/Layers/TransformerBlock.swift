extension GraphBuilder {
  /// Appends a pre-LayerNorm transformer block (the block of learned_optimization's
  /// `tasks/transformer.py`).
  ///
  /// ```
  /// h   = x + dropout(causalSelfAttention(layerNorm(x)))
  /// out = h + dropout(W₂ · gelu(W₁ · layerNorm(h) + b₁) + b₂)
  /// ```
  ///
  /// Parameters: `name/attention_norm/…` and `name/mlp_norm/…` from
  /// ``layerNorm(_:name:epsilon:)``, `name/attention/…` from
  /// `causalSelfAttention(_:heads:keySize:name:weightInitializer:)`, and
  /// `name/mlp/linear_0/…`, `name/mlp/linear_1/…` from
  /// ``mlp(_:hiddenWidths:outputCount:activation:name:weightInitializer:)``.
  ///
  /// - Parameters:
  ///   - x: the sequence `[batch, time, width]`.
  ///   - heads: the number of attention heads.
  ///   - keySize: the per-head size (VeLO's LM transformer uses 32).
  ///   - mlpWidth: the hidden width of the MLP; `nil` means `4 · width`.
  ///   - dropoutRate: applied to both residual branches in training mode; 0 adds no op.
  ///   - isCausal: mask attention to earlier positions (false for a ViT encoder).
  ///   - name: the prefix of the parameter names.
  ///   - weightInitializer: for every dense weight (VeLO's LM transformer uses variance
  ///     scaling 2 / layers); biases start at zero, LayerNorm at the identity.
  /// - Returns: `[batch, time, width]`.
  public mutating func transformerBlock(
    _ x: GraphValue, heads: Int, keySize: Int, mlpWidth: Int? = nil, dropoutRate: Float = 0,
    isCausal: Bool = true, name: String, weightInitializer: Initializer = .lecunNormal
  ) -> GraphValue {
    guard
      check(
        x.shape.count == 3, "a transformer block needs [batch, time, width], got \(x.shape)")
    else { return makeValue(shape: [1]) }
    let width = x.shape[2]
    let attended = causalSelfAttention(
      layerNorm(x, name: "\(name)/attention_norm"), heads: heads, keySize: keySize,
      name: "\(name)/attention", weightInitializer: weightInitializer, isCausal: isCausal)
    let h = add(x, dropout(attended, rate: dropoutRate))
    let transformed = mlp(
      layerNorm(h, name: "\(name)/mlp_norm"), hiddenWidths: [mlpWidth ?? 4 * width],
      outputCount: width, activation: .gelu, name: "\(name)/mlp",
      weightInitializer: weightInitializer)
    return add(h, dropout(transformed, rate: dropoutRate))
  }
}
