import LoptCore

/// The quintic Newton–Schulz iteration that maps a matrix `G = U·Σ·Vᵀ` to about `U·Vᵀ`, its
/// nearest semi-orthogonal matrix (Muon's orthogonalisation; optax's
/// `orthogonalize_via_newton_schulz` with Frobenius pre-conditioning).
///
/// ```
/// X ← G / (‖G‖_F + ε)
/// repeat `steps` times:   A = X·Xᵀ;   X ← a·X + (b·A + c·A²)·X
/// ```
/// For a tall matrix the same polynomial runs on `XᵀX` (`X ← a·X + X·(b·A + c·A²)` with
/// `A = XᵀX`), which equals transposing, iterating and transposing back, so the square
/// products are always `min(rows, columns)` wide. The default coefficients (3.4445, −4.7750,
/// 2.0315) push every singular value into about [0.7, 1.2] within five steps rather than
/// converging exactly.
public struct NewtonSchulz: Sendable, Equatable {
  /// The coefficients `(a, b, c)` of `a·x + b·x³ + c·x⁵`.
  public var coefficients: (a: Float, b: Float, c: Float)
  /// The number of iterations.
  public var steps: Int
  /// Added to the Frobenius norm before the first division.
  public var epsilon: Float

  /// Muon's iteration: five steps of (3.4445, −4.7750, 2.0315), ε 1e-8.
  public init(
    coefficients: (a: Float, b: Float, c: Float) = (3.4445, -4.7750, 2.0315), steps: Int = 5,
    epsilon: Float = 1e-8
  ) {
    precondition(steps >= 0, "the number of Newton–Schulz steps must be ≥ 0, got \(steps)")
    self.coefficients = coefficients
    self.steps = steps
    self.epsilon = epsilon
  }

  /// Whether both run the same iteration.
  public static func == (lhs: NewtonSchulz, rhs: NewtonSchulz) -> Bool {
    lhs.coefficients == rhs.coefficients && lhs.steps == rhs.steps && lhs.epsilon == rhs.epsilon
  }

  /// The scratch ``orthogonalize(_:rows:columns:scratch:)`` needs for a `rows × columns` matrix.
  public static func scratchCount(rows: Int, columns: Int) -> Int {
    let side = min(rows, columns)
    return rows * columns + 2 * side * side
  }

  /// Replaces the row-major `rows × columns` matrix at `x` by its orthogonalisation.
  ///
  /// - Parameters:
  ///   - x: the matrix, overwritten.
  ///   - rows: its rows.
  ///   - columns: its columns.
  ///   - scratch: at least ``scratchCount(rows:columns:)`` floats.
  /// - Complexity: O(steps · rows · columns · min(rows, columns)) in BLAS; allocates nothing.
  public func orthogonalize(
    _ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let count = rows * columns
    guard count > 0 else { return }
    var sumOfSquares: Double = 0
    for i in 0..<count { sumOfSquares += Double(x[i]) * Double(x[i]) }
    let inverseNorm = 1 / (Float(sumOfSquares.squareRoot()) + epsilon)
    for i in 0..<count { x[i] *= inverseNorm }
    let isTall = rows > columns
    let side = min(rows, columns)
    let (a, b, c) = coefficients
    var current = x
    var next = scratch
    let gram = scratch + count
    let polynomial = gram + side * side
    for _ in 0..<steps {
      // A = X·Xᵀ (wide) or XᵀX (tall): side × side.
      BLAS.gemm(
        transposeA: isTall, transposeB: !isTall, m: side, n: side, k: isTall ? rows : columns,
        a: current, lda: columns, b: current, ldb: columns, c: gram)
      // B = b·A + c·A².
      for i in 0..<(side * side) { polynomial[i] = b * gram[i] }
      BLAS.gemm(
        m: side, n: side, k: side, alpha: c, a: gram, b: gram, beta: 1, c: polynomial)
      // X ← a·X + B·X (wide) or a·X + X·B (tall).
      for i in 0..<count { next[i] = a * current[i] }
      if isTall {
        BLAS.gemm(
          m: rows, n: columns, k: columns, a: current, b: polynomial, beta: 1, c: next)
      } else {
        BLAS.gemm(m: rows, n: columns, k: rows, a: polynomial, b: current, beta: 1, c: next)
      }
      swap(&current, &next)
    }
    if current != x { x.update(from: current, count: count) }
  }
}
