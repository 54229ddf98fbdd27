import Foundation

/// A scalar non-linearity applied element-wise.
public enum Activation: Sendable, Hashable, Codable {
  /// `x`.
  case identity
  /// `max(x, 0)`.
  case relu
  /// `min(max(x, 0), 6)`.
  case relu6
  /// `λ·x` for x > 0, `λ·α·(eˣ − 1)` otherwise, with the self-normalising constants.
  case selu
  /// `tanh(x)`.
  case tanh
  /// `cos(x)`.
  case cos
  /// `sin(x)`.
  case sin
  /// `1 / (1 + e⁻ˣ)`.
  case sigmoid
  /// `x · sigmoid(x)` (swish).
  case silu
  /// GELU in the tanh approximation (the default of `jax.nn.gelu`).
  case gelu
  /// `x` for x ≥ 0, `slope · x` otherwise (VeLO's task list uses slope −0.5).
  case leakyRelu(slope: Float)

  /// The constants of SELU (Klambauer et al., 2017).
  @usableFromInline static let seluAlpha: Float = 1.673_263_2
  @usableFromInline static let seluScale: Float = 1.050_701

  /// `f(x)`.
  @inlinable
  public func callAsFunction(_ x: Float) -> Float {
    switch self {
    case .identity: return x
    case .relu: return max(x, 0)
    case .relu6: return min(max(x, 0), 6)
    case .selu: return Self.seluScale * (x > 0 ? x : Self.seluAlpha * (Foundation.exp(x) - 1))
    case .tanh: return Foundation.tanh(x)
    case .cos: return Foundation.cos(x)
    case .sin: return Foundation.sin(x)
    case .sigmoid: return 1 / (1 + Foundation.exp(-x))
    case .silu: return x / (1 + Foundation.exp(-x))
    case .gelu:
      let inner = Self.geluC * (x + 0.044_715 * x * x * x)
      return 0.5 * x * (1 + Foundation.tanh(inner))
    case .leakyRelu(let slope): return x >= 0 ? x : slope * x
    }
  }

  /// `f′(x)`.
  @inlinable
  public func derivative(_ x: Float) -> Float {
    switch self {
    case .identity: return 1
    case .relu: return x > 0 ? 1 : 0
    case .relu6: return x > 0 && x < 6 ? 1 : 0
    case .selu: return Self.seluScale * (x > 0 ? 1 : Self.seluAlpha * Foundation.exp(x))
    case .tanh:
      let t = Foundation.tanh(x)
      return 1 - t * t
    case .cos: return -Foundation.sin(x)
    case .sin: return Foundation.cos(x)
    case .sigmoid:
      let s = 1 / (1 + Foundation.exp(-x))
      return s * (1 - s)
    case .silu:
      let s = 1 / (1 + Foundation.exp(-x))
      return s * (1 + x * (1 - s))
    case .gelu:
      let inner = Self.geluC * (x + 0.044_715 * x * x * x)
      let t = Foundation.tanh(inner)
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Self.geluC * (1 + 3 * 0.044_715 * x * x)
    case .leakyRelu(let slope): return x >= 0 ? 1 : slope
    }
  }

  /// `sqrt(2 / π)`.
  @usableFromInline static let geluC: Float = 0.797_884_6
}

/// Applies an ``Activation`` element-wise.
public struct ActivationOperation: GraphOperation {
  /// The non-linearity.
  public let activation: Activation
  /// The pre-activation.
  public let input: GraphValue
  /// `activation(input)`, same shape.
  public let output: GraphValue

  /// Forward: `y = f(x)`.
  public func forward(_ context: GraphContext) {
    let x = context.pointer(input)
    let y = context.pointer(output)
    switch activation {
    case .identity: y.update(from: x, count: input.count)
    case .relu: for i in 0..<input.count { y[i] = max(x[i], 0) }
    default: for i in 0..<input.count { y[i] = activation(x[i]) }
    }
  }

  /// Backward: `dx += f′(x) · dy`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    let x = context.pointer(input)
    switch activation {
    case .identity: accumulate(dy, into: dx, count: input.count)
    case .relu:
      // Load unconditionally, then select: a conditional load would compile to a branch, which
      // mispredicts on random signs and blocks vectorisation.
      for i in 0..<input.count {
        let g = dy[i]
        dx[i] += x[i] > 0 ? g : 0
      }
    default: for i in 0..<input.count { dx[i] += activation.derivative(x[i]) * dy[i] }
    }
  }
}

extension GraphBuilder {
  /// Appends `activation(input)` element-wise.
  public mutating func activation(_ activation: Activation, _ input: GraphValue) -> GraphValue {
    if activation == .identity { return input }
    let output = makeValue(shape: input.shape)
    append(ActivationOperation(activation: activation, input: input, output: output))
    return output
  }
}
