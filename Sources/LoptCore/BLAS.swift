#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
import CLoptShims
import Foundation
#endif

/// Matrix products through the platform BLAS (OpenBLAS on Linux, Accelerate on Apple platforms).
///
/// All matrices are row-major. Lopt parallelises across independent training runs, so BLAS
/// itself runs single-threaded; ``useSingleThread()`` sets that once at start-up.
///
/// On Linux, OpenBLAS is loaded when first used rather than linked. OpenBLAS picks its kernels
/// by CPU model, and the Debian 12 build (0.3.21) does not know recent Intel models (Sapphire
/// and Emerald Rapids): it falls back to its generic "Prescott" kernels, about 10× slower. So
/// unless `OPENBLAS_CORETYPE` is already set, Lopt sets it from the CPU's features (AVX-512 →
/// `SkylakeX`, AVX2 + FMA → `Haswell`) before loading the library.
public enum BLAS {
  /// Makes the BLAS library use one thread per call (Lopt runs one unroll per core instead).
  public static func useSingleThread() {
    #if !canImport(Accelerate)
    OpenBLAS.shared.setThreadCount(1)
    #endif
  }

  /// The name of the kernel family the BLAS library runs (for example `SkylakeX`).
  public static var kernelName: String {
    #if canImport(Accelerate)
    return "Accelerate"
    #else
    return String(cString: OpenBLAS.shared.coreName())
    #endif
  }

  /// `C = alpha · op(A) · op(B) + beta · C` on raw row-major buffers.
  ///
  /// `op(A)` is `m × k` and `op(B)` is `k × n`; `A` is stored `m × k` (or `k × m` when
  /// `transposeA`), `B` is stored `k × n` (or `n × k` when `transposeB`), `C` is `m × n`.
  /// Leading dimensions default to the dense row length.
  ///
  /// - Complexity: O(m·n·k); allocates nothing.
  @inlinable
  public static func gemm(
    transposeA: Bool = false, transposeB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
    b: UnsafePointer<Float>, ldb: Int? = nil,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
  ) {
    precondition(m >= 0 && n >= 0 && k >= 0, "negative gemm size m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    let lda = lda ?? (transposeA ? m : k)
    let ldb = ldb ?? (transposeB ? k : n)
    let ldc = ldc ?? n
    if k == 0 {
      // BLAS leaves C untouched when k == 0; the mathematical answer is beta · C.
      for i in 0..<m {
        let row = c + i * ldc
        for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
      }
      return
    }
    sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(lda, 1)), b, Int32(max(ldb, 1)),
      beta, c, Int32(max(ldc, 1)))
  }

  #if canImport(Accelerate)
  @usableFromInline static let sgemm = cblas_sgemm
  #else
  @usableFromInline static var sgemm: OpenBLAS.SGEMM { OpenBLAS.shared.sgemm }
  #endif

  /// `C[i] = alpha · op(A[i]) · op(B[i]) + beta · C[i]` for `batchCount` dense matrices laid
  /// out one after another in each buffer.
  ///
  /// - Complexity: O(batchCount·m·n·k); allocates nothing.
  public static func batchedGemm(
    transposeA: Bool = false, transposeB: Bool = false,
    batchCount: Int, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    beta: Float = 0, c: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<batchCount {
      gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
        alpha: alpha, a: a + i * m * k, b: b + i * k * n, beta: beta, c: c + i * m * n)
    }
  }
}

extension BLAS {
  /// The number of `Double`s of workspace ``symmetricEigendecomposition(order:matrix:eigenvalues:workspace:)``
  /// needs for an `order × order` matrix (enough for LAPACK's blocked algorithm).
  public static func eigendecompositionWorkspaceCount(order: Int) -> Int {
    max(1, 66 * order)
  }

  /// Eigenvalues and eigenvectors of a symmetric matrix (LAPACK `dsyev`).
  ///
  /// On return `eigenvalues` holds the `order` eigenvalues in ascending order and row `i` of
  /// `matrix` (row-major) holds the unit eigenvector of eigenvalue `i`. Only one triangle of the
  /// input is read, so it need only be symmetric up to rounding.
  ///
  /// - Returns: LAPACK's `info`: 0 on success, > 0 if the algorithm did not converge.
  /// - Precondition: `workspace` holds at least
  ///   ``eigendecompositionWorkspaceCount(order:)`` elements.
  /// - Complexity: O(order³); allocates nothing.
  public static func symmetricEigendecomposition(
    order: Int, matrix: UnsafeMutablePointer<Double>, eigenvalues: UnsafeMutablePointer<Double>,
    workspace: UnsafeMutableBufferPointer<Double>
  ) -> Int {
    precondition(
      workspace.count >= eigendecompositionWorkspaceCount(order: order),
      "dsyev needs \(eigendecompositionWorkspaceCount(order: order)) workspace elements")
    if order == 0 { return 0 }
    var jobz = CChar(UInt8(ascii: "V"))
    var uplo = CChar(UInt8(ascii: "U"))
    var n = Int32(order)
    var lda = Int32(order)
    var lwork = Int32(workspace.count)
    var info: Int32 = 0
    #if canImport(Accelerate)
    dsyev_(&jobz, &uplo, &n, matrix, &lda, eigenvalues, workspace.baseAddress!, &lwork, &info)
    #else
    OpenBLAS.shared.dsyev(
      &jobz, &uplo, &n, matrix, &lda, eigenvalues, workspace.baseAddress!, &lwork, &info, 1, 1)
    #endif
    return Int(info)
  }
}

extension Tensor {
  /// The matrix product `op(self) · op(other)` of two rank-2 tensors.
  ///
  /// - Precondition: the inner dimensions agree.
  public func matmul(
    _ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false
  ) -> Tensor {
    precondition(
      rank == 2 && other.rank == 2, "matmul needs rank-2 tensors, got \(shape) and \(other.shape)")
    let (m, k) = transposeSelf ? (shape[1], shape[0]) : (shape[0], shape[1])
    let (k2, n) =
      transposeOther ? (other.shape[1], other.shape[0]) : (other.shape[0], other.shape[1])
    precondition(k == k2, "matmul inner dimensions differ: \(shape) · \(other.shape)")
    var result = Tensor(shape: [m, n])
    withUnsafeBufferPointer { a in
      other.withUnsafeBufferPointer { b in
        result.withUnsafeMutableBufferPointer { c in
          BLAS.gemm(
            transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k,
            a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
        }
      }
    }
    return result
  }
}

#if !canImport(Accelerate)
/// The entry points of OpenBLAS, loaded with `dlopen` on first use.
@usableFromInline
struct OpenBLAS: Sendable {
  @usableFromInline
  typealias SGEMM =
    @convention(c) (
      CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Float,
      UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
      UnsafeMutablePointer<Float>?, Int32
    ) -> Void

  /// LAPACK's `dsyev_` (Fortran convention: every argument by reference, then the hidden
  /// lengths of the two character arguments).
  typealias DSYEV =
    @convention(c) (
      UnsafeMutablePointer<CChar>, UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>,
      UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Double>,
      UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>,
      Int, Int
    ) -> Void

  @usableFromInline let sgemm: SGEMM
  let dsyev: DSYEV
  let setThreadCount: @convention(c) (Int32) -> Void
  let coreName: @convention(c) () -> UnsafePointer<CChar>

  /// The library, loaded once (Swift runs this initialiser exactly once, thread-safely).
  @usableFromInline static let shared = OpenBLAS()

  private init() {
    if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
      let core = lopt_openblas_core_for_cpu()
    {
      setenv("OPENBLAS_CORETYPE", core, 0)
    }
    let names = [
      "libopenblas.so.0", "libopenblas.so",
      "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
      "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    ]
    guard let handle = names.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_GLOBAL) }).first
    else {
      fatalError(
        "Lopt needs OpenBLAS and could not load it (\(String(cString: dlerror()))). "
          + "Install it with: apt-get install libopenblas0")
    }
    func symbol<T>(_ name: String, as type: T.Type) -> T {
      guard let address = dlsym(handle, name) else {
        fatalError("the OpenBLAS library has no symbol \(name)")
      }
      return unsafeBitCast(address, to: type)
    }
    sgemm = symbol("cblas_sgemm", as: SGEMM.self)
    dsyev = symbol("dsyev_", as: DSYEV.self)
    setThreadCount = symbol(
      "openblas_set_num_threads", as: (@convention(c) (Int32) -> Void).self)
    coreName = symbol(
      "openblas_get_corename", as: (@convention(c) () -> UnsafePointer<CChar>).self)
  }
}
#endif
