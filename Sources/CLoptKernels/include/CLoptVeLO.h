// VeLO's hot loops in C, compiled for several x86-64 levels and chosen at run time.
//
// Each function exists as an AVX-512, an AVX2 + FMA and a portable (baseline x86-64 or other
// architecture) variant of one source (VeLOKernelBody.h); the first call picks the best one
// the CPU supports with `__builtin_cpu_supports`, as `lopt_openblas_core_for_cpu` does. None of
// them allocates. The variants differ only in rounding (FMA contraction, summation order).
#ifndef CLOPT_VELO_H
#define CLOPT_VELO_H

/// One tensor's inputs to the fused per-parameter kernel (docs/velo.md §9–§11).
/// The first plane of each kind in `rowPlanes` and `columnPlanes` (3, 3 and 4 planes).
enum {
  LOPT_VELO_RSQRT_PLANE = 0,
  LOPT_VELO_FACTOR_PLANE = 3,
  LOPT_VELO_FIRST_LAYER_PLANE = 6,
  LOPT_VELO_PLANE_COUNT = 10
};

typedef struct {
  /// Parameters (updated in place by `lopt_velo_apply`), gradients (clipped to ±1000 here).
  float *p;
  const float *g;
  /// Three momentum planes of `n` floats each (decays 0.9, 0.99, 0.999), and the rms EMA.
  const float *m;
  const float *v;
  long n;
  /// Rank ≥ 2: planes of `rowCount` / `columnCount` floats, at the plane indices below:
  /// rsqrt(r_k + 1e-8), then ρ_k (rows) or γ_k (columns), then the first layer's row / column
  /// contribution to each of its 4 outputs (the row planes include its bias b0).
  const float *rowPlanes;
  const float *columnPlanes;
  long rowCount;
  long columnCount;
  /// Rank ≤ 1: the three second-moment planes v_k of `n` floats (the kernels derive
  /// rsqrt(v_k + 1e-8), rsqrt(max(v_k + 1e-9, 1e-9)) and 1 / sqrt(v_k) per element).
  const float *full;
  /// The 159 MLP weights (w0 [30, 4] with the channel normalisers folded in, b0, w1, b1, w2,
  /// b2).
  const float *weights;
  /// `λ · stepMult`, σ_p (or 1), and `expMult`.
  float stepScale;
  float sigma;
  float expMult;
  /// Non-zero for rank ≥ 2 tensors; non-zero to multiply the step by rsqrt(rms + 1e-6).
  int factored;
  int preconditionOutput;
} LoptVeLOTensor;

/// One tensor's accumulator update (docs/velo.md §4, E1–E3), fused with the sums the LSTM
/// features need from the previous accumulators (E6) and the per-parameter features need from
/// the new ones (E11).
typedef struct {
  /// Parameters (read only), gradients (clipped to ±1000 here); momentum (3 planes of `n`) and
  /// rms, updated in place.
  const float *p;
  const float *g;
  float *m;
  float *v;
  long n;
  /// The means of the three momentum planes before this update (the previous pass's `sums`).
  float means[3];
  float momentumDecay[3];
  float rmsDecay;
  float factoredDecay[3];
  /// Rank ≥ 2: Σ (g² + 1e-30) per row and per column are added here (the caller turns them
  /// into means and the EMAs). Rank ≤ 1: NULL, and the three planes `full` are updated.
  double *rowSums;
  double *columnSums;
  float *full;
  /// Out (added to), from the previous accumulators: Σp², then Σ (m_k − means_k)² for k = 0…2,
  /// then Σ (v − means_k)² for k = 0…2.
  double moments[7];
  /// Out (added to): Σ of the new m_0, m_1, m_2 and v (the next update's means).
  double sums[4];
  /// Out (added to): Σx² of the per-parameter feature channels that need no second-moment
  /// factor (0–10 and 14), from the new accumulators; the other channels are left alone.
  double squares[30];
} LoptVeLOAccumulators;

/// Updates the accumulators of one run of elements (arguments as in `lopt_velo_sum_squares`;
/// for rank ≤ 1 tensors pass row 0, stride 0).
void lopt_velo_update_accumulators(LoptVeLOAccumulators *accumulators, long start, long length,
                                   long row, long rowStride, long column, long columnStride);

/// Pass 1 over elements `start ..< start + length` of one contiguous run: adds the Σx² of the
/// feature channels that use second-moment factors to `totals`: 11–13 and 27–29, and for
/// rank ≤ 1 tensors also 15–26 (a factored tensor's 15–26 are constant along a row or column;
/// the caller sums them per row and column). Row index `row + j · rowStride`, column index
/// `column + j · columnStride`, strides 0 or 1.
void lopt_velo_sum_squares(const LoptVeLOTensor *tensor, long start, long length, long row,
                           long rowStride, long column, long columnStride, double *totals);

/// Pass 2 over one run (arguments as in `lopt_velo_sum_squares`): features, the 30 → 4 → 4 → 3
/// MLP and `p ← p − stepScale · d · σ · exp(expMult · a)` (· rsqrt(rms + 1e-6) if asked).
void lopt_velo_apply(const LoptVeLOTensor *tensor, long start, long length, long row,
                     long rowStride, long column, long columnStride);

/// `C += alpha · A · B` for row-major `A [m, k]` (`lda`), `B [k, n]` (`ldb`), `C [m, n]`
/// (`ldc`): the tensor-level products. `B` is read from memory once: row by row for a few rows
/// of `A`, otherwise in panels of 256 rows × two vectors, each copied to the stack by its first
/// register tile and reused by the others (no whole-matrix packing, no allocation, < 64 KB of
/// stack).
void lopt_velo_gemm(long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float *c, long ldc);

/// One LSTM step for `rows` rows of `h` units: `gates [rows, 4h]` holds the pre-activations
/// `[i, g, f, o]`; `cell` (read and written) and `hidden` are `[rows, h]`. The forget gate gets
/// +1; sigmoid and tanh use a vectorised exp (absolute error ~1e-7, not libm's rounding).
void lopt_velo_lstm_cell(const float *gates, float *hidden, float *cell, long rows, long h);

/// The name of the variant in use: "avx512", "avx2" or "portable".
const char *lopt_velo_kernel_variant(void);

#endif
