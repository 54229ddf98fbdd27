import CLoptShims
import Foundation
import LoptCore

/// Block-diagonal Shampoo (Gupta et al., 2018; Anil et al., 2020) with grafting and momentum.
///
/// There is no optax Shampoo; this follows the `distributed_shampoo` description with one
/// exact formula, which `scripts/make_optax_fixtures.py` re-implements in NumPy. Each tensor
/// is viewed as a matrix `rows × columns` (the last axis is the columns) and cut into blocks
/// of at most `blockSize × blockSize`. With `t` the 1-based step:
///
/// ```
/// grafting (per element):  SGD: d = g
///                          Adam: v ← β₂·v + (1 − β₂)·g²;  d = g / (√(v / (1 − β₂ᵗ)) + ε)
/// per block G:             L ← β₂·L + (1 − β₂)·G·Gᵀ       R ← β₂·R + (1 − β₂)·Gᵀ·G
/// when t ≥ start and (t − start) % interval == 0, with L = V·diag(λ)·Vᵀ (LAPACK dsyev):
///                          L̃ = V·diag((max(λ, 0) + ε_M)^(−¼))·Vᵀ, likewise R̃
/// when t ≥ start:          S = L̃·G·R̃;   d_block = S · ‖d_block‖ / ‖S‖   (‖S‖ = 0: d kept)
/// all:                     m ← β₁·m + (1 − β₁)·d;   p ← p − lr·m
/// ```
/// Scalars, vectors and tensors with a matrix side longer than `maximumPreconditionedSize`
/// fall back to the grafting direction alone (diagonal). The eigendecomposition runs in
/// `Double`; statistics and products are `Float`.
public struct Shampoo: LearningRateOptimizer {
  /// The direction whose per-block norm Shampoo's direction takes.
  public enum Grafting: String, Sendable, Codable, CaseIterable {
    /// The gradient itself.
    case sgd
    /// Adam's bias-corrected direction without momentum.
    case adam
  }

  /// The step size `lr`.
  public let learningRate: Float
  /// The momentum decay β₁.
  public let beta1: Float
  /// The decay β₂ of the preconditioner statistics and the Adam grafting moment.
  public let beta2: Float
  /// Added to the Adam grafting root.
  public let epsilon: Float
  /// Added to the eigenvalues before the inverse fourth root (ε_M).
  public let matrixEpsilon: Float
  /// The largest side of a preconditioner block.
  public let blockSize: Int
  /// Tensors whose matrix view has a longer side use the diagonal fall-back.
  public let maximumPreconditionedSize: Int
  /// The first step (1-based) that uses the preconditioners.
  public let startStep: Int
  /// Inverse roots are recomputed every this many steps.
  public let updateInterval: Int
  /// The grafting direction.
  public let grafting: Grafting

  /// Creates Shampoo; β₁ 0.9, β₂ 0.999 and Adam grafting as in `distributed_shampoo`.
  ///
  /// - Precondition: `learningRate ≥ 0`, betas in [0, 1), positive sizes and interval.
  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
    matrixEpsilon: Float = 1e-6, blockSize: Int = 128, maximumPreconditionedSize: Int = 4096,
    startStep: Int = 1, updateInterval: Int = 1, grafting: Grafting = .adam
  ) {
    precondition(learningRate >= 0, "the learning rate must be ≥ 0, got \(learningRate)")
    precondition(
      (0..<1).contains(beta1) && (0..<1).contains(beta2), "Shampoo's betas must be in [0, 1)")
    precondition(blockSize > 0 && maximumPreconditionedSize > 0, "sizes must be positive")
    precondition(startStep >= 1 && updateInterval >= 1, "start step and interval must be ≥ 1")
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.matrixEpsilon = matrixEpsilon
    self.blockSize = blockSize
    self.maximumPreconditionedSize = maximumPreconditionedSize
    self.startStep = startStep
    self.updateInterval = updateInterval
    self.grafting = grafting
  }

  /// One preconditioner block: a `rowCount × columnCount` window of a tensor's matrix view.
  struct Block: Sendable, Equatable {
    var firstRow: Int
    var rowCount: Int
    var firstColumn: Int
    var columnCount: Int
    /// Where `L` (then `R`) starts in the statistics and roots.
    var offset: Int
  }

  /// One tensor: its elements, matrix view and blocks (none: diagonal fall-back).
  struct Plan: Sendable, Equatable {
    var range: Range<Int>
    var columns: Int
    var blocks: [Block]
  }

  /// Shampoo's statistics, inverse roots, moments, scratch space and step counter.
  public struct State: CheckpointableState {
    /// The number of updates applied so far.
    public var iteration: Int
    /// The momentum m.
    public var momentum: ParameterSet
    /// The Adam grafting second moment v (zero with SGD grafting).
    public var graftingMoment: ParameterSet
    /// Every block's `L` then `R`, row-major, one after another.
    public var statistics: Tensor
    /// The inverse fourth roots `L̃`, `R̃`, laid out as ``statistics``.
    public var roots: Tensor
    /// Scratch: the grafting direction (parameter-sized) then one block's product.
    var scratch: Tensor
    /// Scratch for the eigendecomposition: matrix, eigenvalues, workspace.
    var eigenScratch: [Double]
    /// Scratch for the root's product `Vᵀ·W`: both factors in `Float`.
    var rootScratch: Tensor
    let plans: [Plan]

    /// Stores every buffer that carries over between steps under `prefix`.
    public func write(into file: inout SafetensorsFile, prefix: String) {
      file.setCounter(iteration, named: prefix + "iteration")
      file.setParameters(momentum, named: prefix + "mu")
      file.setParameters(graftingMoment, named: prefix + "grafting_nu")
      file.setFloat(statistics, named: prefix + "statistics")
      file.setFloat(roots, named: prefix + "roots")
    }

    /// Restores what ``write(into:prefix:)`` stored.
    public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
      iteration = try file.readCounter(named: prefix + "iteration")
      try file.readParameters(&momentum, named: prefix + "mu")
      try file.readParameters(&graftingMoment, named: prefix + "grafting_nu")
      statistics = try file.readTensor(named: prefix + "statistics", shape: statistics.shape)
      roots = try file.readTensor(named: prefix + "roots", shape: roots.shape)
    }
  }

  /// Plans the blocks and allocates every buffer.
  public func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
    var plans: [Plan] = []
    var offset = 0
    var largestBlock = 0
    var largestSide = 0
    for entry in parameters.layout.entries {
      let columns = entry.shape.last ?? 1
      let rows = entry.count / max(columns, 1)
      var plan = Plan(range: entry.range, columns: columns, blocks: [])
      if entry.shape.count >= 2, entry.count > 0,
        max(rows, columns) <= maximumPreconditionedSize
      {
        for firstRow in stride(from: 0, to: rows, by: blockSize) {
          for firstColumn in stride(from: 0, to: columns, by: blockSize) {
            let block = Block(
              firstRow: firstRow, rowCount: min(blockSize, rows - firstRow),
              firstColumn: firstColumn, columnCount: min(blockSize, columns - firstColumn),
              offset: offset)
            offset += block.rowCount * block.rowCount + block.columnCount * block.columnCount
            largestBlock = max(largestBlock, block.rowCount * block.columnCount)
            largestSide = max(largestSide, block.rowCount, block.columnCount)
            plan.blocks.append(block)
          }
        }
      }
      plans.append(plan)
    }
    let n = largestSide
    return State(
      iteration: 0, momentum: parameters.zerosLike(), graftingMoment: parameters.zerosLike(),
      statistics: Tensor(shape: [offset]), roots: Tensor(shape: [offset]),
      scratch: Tensor(shape: [parameters.count + largestBlock]),
      eigenScratch: [Double](
        repeating: 0, count: n * n + n + BLAS.eigendecompositionWorkspaceCount(order: n)),
      rootScratch: Tensor(shape: [2 * n * n]), plans: plans)
  }

  /// Applies one Shampoo step.
  ///
  /// - Complexity: O(parameters · blockSize) per step, plus O(blockSize³) per block on steps
  ///   that recompute roots; allocates nothing.
  public func update(
    _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
    state: inout State
  ) {
    precondition(gradients.count == parameters.count, "gradients do not match the parameters")
    state.iteration += 1
    let t = state.iteration
    let isPreconditioning = t >= startStep
    let isRecomputing = isPreconditioning && (t - startStep) % updateInterval == 0
    let plans = state.plans
    gradients.withUnsafeBufferPointer { g in
      state.scratch.withUnsafeMutableBufferPointer { scratch in
        let d = UnsafeMutableBufferPointer(rebasing: scratch[0..<g.count])
        let product = UnsafeMutableBufferPointer(rebasing: scratch[g.count...])
        state.graftingMoment.withUnsafeMutableBufferPointer { v in
          graftingDirection(g, moment: v, into: d, step: t)
        }
        state.statistics.withUnsafeMutableBufferPointer { statistics in
          state.roots.withUnsafeMutableBufferPointer { roots in
            state.eigenScratch.withUnsafeMutableBufferPointer { eigen in
              state.rootScratch.withUnsafeMutableBufferPointer { factors in
                for plan in plans {
                  for block in plan.blocks {
                    accumulate(g, block: block, plan: plan, into: statistics)
                    if isRecomputing {
                      let rightOffset = block.offset + block.rowCount * block.rowCount
                      inverseFourthRoot(
                        of: statistics.baseAddress! + block.offset, order: block.rowCount,
                        into: roots.baseAddress! + block.offset, scratch: eigen, factors: factors)
                      inverseFourthRoot(
                        of: statistics.baseAddress! + rightOffset, order: block.columnCount,
                        into: roots.baseAddress! + rightOffset, scratch: eigen, factors: factors)
                    }
                    if isPreconditioning {
                      applyPreconditioner(
                        g, block: block, plan: plan, roots: UnsafeBufferPointer(roots),
                        product: product, direction: d)
                    }
                  }
                }
              }
            }
          }
        }
        let (b1, lr) = (beta1, learningRate)
        parameters.withUnsafeMutableBufferPointer { p in
          state.momentum.withUnsafeMutableBufferPointer { m in
            for i in 0..<p.count {
              m[i] = b1 * m[i] + (1 - b1) * d[i]
              p[i] -= lr * m[i]
            }
          }
        }
      }
    }
  }

  /// Writes the grafting direction of every element into `d`.
  private func graftingDirection(
    _ g: UnsafeBufferPointer<Float>, moment v: UnsafeMutableBufferPointer<Float>,
    into d: UnsafeMutableBufferPointer<Float>, step: Int
  ) {
    switch grafting {
    case .sgd:
      _ = d.initialize(from: g)
    case .adam:
      let (b2, eps) = (beta2, epsilon)
      let correction = 1 / (1 - pow(b2, Float(step)))
      for i in 0..<g.count {
        let vi = b2 * v[i] + (1 - b2) * g[i] * g[i]
        v[i] = vi
        d[i] = g[i] / (lopt_sqrtf(vi * correction) + eps)
      }
    }
  }

  /// `L ← β₂·L + (1 − β₂)·G·Gᵀ` and `R ← β₂·R + (1 − β₂)·Gᵀ·G` for one block.
  private func accumulate(
    _ g: UnsafeBufferPointer<Float>, block: Block, plan: Plan,
    into statistics: UnsafeMutableBufferPointer<Float>
  ) {
    let (rows, cols, columns) = (block.rowCount, block.columnCount, plan.columns)
    let start =
      g.baseAddress! + plan.range.lowerBound + block.firstRow * columns
      + block.firstColumn
    let left = statistics.baseAddress! + block.offset
    BLAS.gemm(
      transposeB: true, m: rows, n: rows, k: cols, alpha: 1 - beta2, a: start, lda: columns,
      b: start, ldb: columns, beta: beta2, c: left)
    BLAS.gemm(
      transposeA: true, m: cols, n: cols, k: rows, alpha: 1 - beta2, a: start, lda: columns,
      b: start, ldb: columns, beta: beta2, c: left + rows * rows)
  }

  /// Replaces the block's grafting direction by `S = L̃·G·R̃` with the grafting norm.
  private func applyPreconditioner(
    _ g: UnsafeBufferPointer<Float>, block: Block, plan: Plan, roots: UnsafeBufferPointer<Float>,
    product: UnsafeMutableBufferPointer<Float>, direction d: UnsafeMutableBufferPointer<Float>
  ) {
    let (rows, cols, columns) = (block.rowCount, block.columnCount, plan.columns)
    let corner = plan.range.lowerBound + block.firstRow * columns + block.firstColumn
    let left = roots.baseAddress! + block.offset
    // product = L̃ · G, then the block of d = product · R̃ after its norm is taken.
    BLAS.gemm(
      m: rows, n: cols, k: rows, a: left, b: g.baseAddress! + corner, ldb: columns,
      c: product.baseAddress!)
    var graftNorm: Double = 0
    for r in 0..<rows {
      for c in 0..<cols {
        let x = Double(d[corner + r * columns + c])
        graftNorm += x * x
      }
    }
    BLAS.gemm(
      m: rows, n: cols, k: cols, a: product.baseAddress!, b: left + rows * rows,
      c: d.baseAddress! + corner, ldc: columns)
    var norm: Double = 0
    for r in 0..<rows {
      for c in 0..<cols {
        let x = Double(d[corner + r * columns + c])
        norm += x * x
      }
    }
    // A zero S (no statistics yet) would erase the block: keep the grafting direction then.
    let scale = norm > 0 ? Float((graftNorm / norm).squareRoot()) : 0
    for r in 0..<rows {
      for c in 0..<cols {
        let i = corner + r * columns + c
        d[i] = norm > 0 ? d[i] * scale : d[i]
      }
    }
  }

  /// `(A + ε_M·I)^(−¼)` of the symmetric `order × order` matrix `a`, via `Double` eigenvectors.
  private func inverseFourthRoot(
    of a: UnsafePointer<Float>, order n: Int, into result: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutableBufferPointer<Double>, factors: UnsafeMutableBufferPointer<Float>
  ) {
    let vectors = scratch.baseAddress!
    let values = vectors + n * n
    let workspace = UnsafeMutableBufferPointer(rebasing: scratch[(n * n + n)...])
    for i in 0..<(n * n) { vectors[i] = Double(a[i]) }
    let info = BLAS.symmetricEigendecomposition(
      order: n, matrix: vectors, eigenvalues: values, workspace: workspace)
    precondition(info == 0, "the eigendecomposition did not converge (dsyev info \(info))")
    // Row k of `vectors` is eigenvector k; result = Σₖ wₖ · vₖ·vₖᵀ = Vᵀ·(W·V), one GEMM.
    let (v, weighted) = (factors.baseAddress!, factors.baseAddress! + n * n)
    for k in 0..<n {
      let w = 1 / (max(values[k], 0) + Double(matrixEpsilon)).squareRoot().squareRoot()
      for j in 0..<n {
        v[k * n + j] = Float(vectors[k * n + j])
        weighted[k * n + j] = Float(w * vectors[k * n + j])
      }
    }
    BLAS.gemm(transposeA: true, m: n, n: n, k: n, a: v, b: weighted, c: result)
  }
}
