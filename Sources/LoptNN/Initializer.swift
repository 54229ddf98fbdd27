import LoptCore

/// How a parameter tensor is filled before training.
///
/// Fan-in and fan-out follow the JAX/Haiku convention: the last axis is the output axis, the
/// second to last the input axis, and the leading axes are the receptive field (a dense kernel
/// `[in, out]`, a convolution kernel `[kh, kw, in, out]`).
public enum Initializer: Sendable, Hashable, Codable {
  /// Every element 0.
  case zeros
  /// Every element the same value.
  case constant(Float)
  /// Uniform on `[low, high)`.
  case uniform(low: Float, high: Float)
  /// Normal with mean 0.
  case normal(standardDeviation: Float)
  /// Normal with mean 0 truncated to ±2 standard deviations (then scaled).
  case truncatedNormal(standardDeviation: Float)
  /// Variance `scale / fan` with `fan` from `mode`, drawn from `distribution`
  /// (He: scale 2, fan-in; LeCun: scale 1, fan-in; Glorot: scale 1, fan-average).
  case varianceScaling(scale: Float, mode: FanMode, distribution: Distribution)
  /// A (semi-)orthogonal matrix times `gain`, over the tensor flattened to
  /// `[product of leading axes, last axis]`.
  case orthogonal(gain: Float)

  /// Which fan a variance-scaling initializer divides by.
  public enum FanMode: String, Sendable, Hashable, Codable {
    /// Input units (the second to last axis times the receptive field).
    case fanIn
    /// Output units (the last axis times the receptive field).
    case fanOut
    /// The mean of the two.
    case fanAverage
  }

  /// The distribution a variance-scaling initializer draws from.
  public enum Distribution: String, Sendable, Hashable, Codable {
    /// Normal truncated at ±2σ, rescaled so the variance is exact (as in JAX).
    case truncatedNormal
    /// Plain normal.
    case normal
    /// Uniform on `±sqrt(3 · variance)`.
    case uniform
  }

  /// LeCun normal (variance 1 / fan-in, truncated): a common default for dense layers.
  public static let lecunNormal = Initializer.varianceScaling(
    scale: 1, mode: .fanIn, distribution: .truncatedNormal)
  /// He normal (variance 2 / fan-in, truncated), for ReLU networks.
  public static let heNormal = Initializer.varianceScaling(
    scale: 2, mode: .fanIn, distribution: .truncatedNormal)
  /// Glorot uniform (variance 1 / fan-average).
  public static let glorotUniform = Initializer.varianceScaling(
    scale: 1, mode: .fanAverage, distribution: .uniform)

  /// The (fan-in, fan-out) of a tensor shape under the convention above.
  public static func fans(of shape: [Int]) -> (fanIn: Float, fanOut: Float) {
    switch shape.count {
    case 0: return (1, 1)
    case 1: return (Float(shape[0]), Float(shape[0]))
    default:
      let receptive = Float(shape.dropLast(2).reduce(1, *))
      return (Float(shape[shape.count - 2]) * receptive, Float(shape[shape.count - 1]) * receptive)
    }
  }

  /// Fills `buffer` (a tensor of `shape`) with this initializer's draws from `key`.
  public func fill(_ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int], key: RandomKey) {
    switch self {
    case .zeros: buffer.update(repeating: 0)
    case .constant(let value): buffer.update(repeating: value)
    case .uniform(let low, let high): key.fillUniform(buffer, low: low, high: high)
    case .normal(let std): key.fillNormal(buffer, standardDeviation: std)
    case .truncatedNormal(let std): key.fillTruncatedNormal(buffer, standardDeviation: std)
    case .varianceScaling(let scale, let mode, let distribution):
      let (fanIn, fanOut) = Self.fans(of: shape)
      let fan: Float =
        switch mode {
        case .fanIn: fanIn
        case .fanOut: fanOut
        case .fanAverage: (fanIn + fanOut) / 2
        }
      let variance = scale / max(fan, 1)
      switch distribution {
      case .truncatedNormal:
        // The ±2σ truncated unit normal has standard deviation 0.87962566.
        key.fillTruncatedNormal(buffer, standardDeviation: variance.squareRoot() / 0.879_625_66)
      case .normal: key.fillNormal(buffer, standardDeviation: variance.squareRoot())
      case .uniform:
        let limit = (3 * variance).squareRoot()
        key.fillUniform(buffer, low: -limit, high: limit)
      }
    case .orthogonal(let gain): Self.fillOrthogonal(buffer, shape: shape, gain: gain, key: key)
    }
  }

  /// Draws a normal matrix and orthonormalises its rows or columns by modified Gram–Schmidt in
  /// `Double` (equivalent to QR with a positive diagonal, so the result is Haar-distributed).
  private static func fillOrthogonal(
    _ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int], gain: Float, key: RandomKey
  ) {
    precondition(shape.count >= 2, "orthogonal initialisation needs rank ≥ 2, got \(shape)")
    let columns = shape[shape.count - 1]
    let rows = buffer.count / columns
    // Orthonormalise the shorter side: work on vectors of length `length`, `vectors` of them.
    let transpose = rows < columns
    let (vectors, length) = transpose ? (rows, columns) : (columns, rows)
    var q = (0..<(vectors * length)).map { Double(key.normal(at: $0)) }
    for v in 0..<vectors {
      for u in 0..<v {
        var dot = 0.0
        for i in 0..<length { dot += q[v * length + i] * q[u * length + i] }
        for i in 0..<length { q[v * length + i] -= dot * q[u * length + i] }
      }
      var norm = 0.0
      for i in 0..<length { norm += q[v * length + i] * q[v * length + i] }
      norm = norm.squareRoot()
      for i in 0..<length { q[v * length + i] /= norm }
    }
    for v in 0..<vectors {
      for i in 0..<length {
        let (row, column) = transpose ? (v, i) : (i, v)
        buffer[row * columns + column] = gain * Float(q[v * length + i])
      }
    }
  }
}
