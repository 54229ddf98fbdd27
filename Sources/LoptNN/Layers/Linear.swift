import LoptCore

/// A dense layer `y = x · W + b` over the last axis of `x`, with `W: [in, out]` and `b: [out]`.
///
/// Leading axes of `x` are flattened into rows, so the same op serves `[batch, in]` and
/// `[batch, time, in]` inputs. All products go to BLAS.
public struct LinearOperation: GraphOperation {
  /// The input `[rows…, in]`.
  public let input: GraphValue
  /// The weight matrix `[in, out]`.
  public let weight: GraphParameter
  /// The bias `[out]`, or `nil` for a layer without one.
  public let bias: GraphParameter?
  /// The output `[rows…, out]`.
  public let output: GraphValue

  private var inputCount: Int { weight.shape[0] }
  private var outputCount: Int { weight.shape[1] }
  private var rows: Int { input.count / inputCount }

  /// Forward: one GEMM plus a bias broadcast.
  public func forward(_ context: GraphContext) {
    let y = context.pointer(output)
    BLAS.gemm(
      m: rows, n: outputCount, k: inputCount,
      a: context.pointer(input), b: context.pointer(weight), c: y)
    if let bias {
      let b = context.pointer(bias)
      for row in 0..<rows {
        let yRow = y + row * outputCount
        for j in 0..<outputCount { yRow[j] += b[j] }
      }
    }
  }

  /// Backward: `dW += xᵀ·dy`, `db += Σ_rows dy`, `dx += dy·Wᵀ`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    if let dw = context.gradient(weight) {
      BLAS.gemm(
        transposeA: true, m: inputCount, n: outputCount, k: rows,
        a: context.pointer(input), b: dy, beta: 1, c: dw)
    }
    if let bias, let db = context.gradient(bias) {
      for row in 0..<rows {
        let dyRow = dy + row * outputCount
        for j in 0..<outputCount { db[j] += dyRow[j] }
      }
    }
    if let dx = context.gradient(input) {
      BLAS.gemm(
        transposeB: true, m: rows, n: inputCount, k: outputCount,
        a: dy, b: context.pointer(weight), beta: 1, c: dx)
    }
  }
}

extension GraphBuilder {
  /// Appends a dense layer with parameters `name/w` (`[in, out]`) and `name/b` (`[out]`).
  ///
  /// - Parameters:
  ///   - input: the values to transform, `[rows…, in]`.
  ///   - outputCount: the width of the output's last axis.
  ///   - name: the prefix of the parameter names.
  ///   - weightInitializer: defaults to LeCun normal (truncated, variance 1 / fan-in).
  ///   - hasBias: whether to add a bias (initialised to zero).
  /// - Returns: the output, `[rows…, outputCount]`.
  public mutating func linear(
    _ input: GraphValue, outputCount: Int, name: String,
    weightInitializer: Initializer = .lecunNormal, hasBias: Bool = true
  ) -> GraphValue {
    guard check(!input.shape.isEmpty, "\(name): a dense layer needs an input with a feature axis")
    else { return makeValue(shape: [1]) }
    let inputCount = input.shape.last!
    let weight = parameter(
      "\(name)/w", shape: [inputCount, outputCount], initializer: weightInitializer)
    let bias = hasBias ? parameter("\(name)/b", shape: [outputCount], initializer: .zeros) : nil
    let output = makeValue(shape: input.shape.dropLast() + [outputCount])
    append(LinearOperation(input: input, weight: weight, bias: bias, output: output))
    return output
  }
}
