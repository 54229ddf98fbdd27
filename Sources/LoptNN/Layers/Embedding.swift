/// A table lookup: token ids `[rows…]` (stored as `Float`) → rows of `E` `[rows…, D]`.
///
/// ```
/// y[i, :] = E[ids[i], :]
/// ```
public struct EmbeddingOperation: GraphOperation {
  /// The token ids, exact integers in `0..<V` stored as `Float`.
  public let ids: GraphValue
  /// The table `E` `[V, D]`.
  public let table: GraphParameter
  /// The output `[rows…, D]`.
  public let output: GraphValue

  /// Forward: copies one table row per id.
  ///
  /// - Precondition: every id is in `0..<V` (a failure names the table).
  public func forward(_ context: GraphContext) {
    let (vocabularySize, width) = (table.shape[0], table.shape[1])
    let tokens = context.pointer(ids)
    let e = context.pointer(table)
    let y = context.pointer(output)
    for i in 0..<ids.count {
      precondition(
        tokens[i] >= 0 && tokens[i] < Float(vocabularySize),
        "embedding '\(table.name)': token id \(tokens[i]) outside 0..<\(vocabularySize)")
      (y + i * width).update(from: e + Int(tokens[i]) * width, count: width)
    }
  }

  /// Backward: `dE[ids[i], :] += dy[i, :]` (repeated ids accumulate).
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dE = context.gradient(table) else { return }
    let width = table.shape[1]
    let tokens = context.pointer(ids)
    for i in 0..<ids.count {
      accumulate(dy + i * width, into: dE + Int(tokens[i]) * width, count: width)
    }
  }
}

extension GraphBuilder {
  /// Appends an embedding lookup with the table `name/embeddings` (`[V, D]`); `ids` holds token
  /// ids in `0..<V` as `Float`, and the output is `ids.shape + [D]`.
  ///
  /// - Parameters:
  ///   - ids: token ids `[rows…]`.
  ///   - vocabularySize: `V`.
  ///   - embeddingSize: `D`.
  ///   - name: the prefix of the parameter name.
  ///   - initializer: defaults to `hk.Embed`'s truncated normal with standard deviation 1.
  /// - Returns: the embeddings `[rows…, D]`.
  public mutating func embedding(
    _ ids: GraphValue, vocabularySize: Int, embeddingSize: Int, name: String,
    initializer: Initializer = .truncatedNormal(standardDeviation: 1)
  ) -> GraphValue {
    let table = parameter(
      "\(name)/embeddings", shape: [vocabularySize, embeddingSize], initializer: initializer)
    let output = makeValue(shape: ids.shape + [embeddingSize])
    append(EmbeddingOperation(ids: ids, table: table, output: output))
    return output
  }
}
