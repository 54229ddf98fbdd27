// VeLO's hot loops (CLoptVeLO.h): one source, VeLOKernelBody.h, compiled per x86-64 level.
#include "CLoptShims.h"
#include "CLoptVeLO.h"
#include "VectorExponential.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define VL 4
#define TARGET
#define NAME(x) x##_portable
#include "VeLOKernelBody.h"
#undef NAME
#undef TARGET
#undef VL

#if defined(__x86_64__)
#define VL 8
#define TARGET __attribute__((target("avx2,fma")))
#define NAME(x) x##_avx2
#include "VeLOKernelBody.h"
#undef NAME
#undef TARGET
#undef VL

#define VL 16
#define TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define NAME(x) x##_avx512
#include "VeLOKernelBody.h"
#undef NAME
#undef TARGET
#undef VL
#endif

/// One instruction-set level's entry points.
typedef struct {
  void (*sumSquares)(const LoptVeLOTensor *, long, long, long, long, long, long, double *);
  void (*apply)(const LoptVeLOTensor *, long, long, long, long, long, long);
  void (*gemm)(long, long, long, float, const float *, long, const float *, long, float *, long);
  void (*lstmCell)(const float *, float *, float *, long, long);
  void (*updateAccumulators)(LoptVeLOAccumulators *, long, long, long, long, long, long);
  const char *name;
} Variant;

static const Variant portable = {sum_squares_portable, apply_portable,
                                 gemm_portable,        lstm_cell_portable,
                                 update_accumulators_portable, "portable"};
#if defined(__x86_64__)
static const Variant avx2 = {sum_squares_avx2, apply_avx2, gemm_avx2, lstm_cell_avx2,
                             update_accumulators_avx2, "avx2"};
static const Variant avx512 = {sum_squares_avx512, apply_avx512, gemm_avx512,
                               lstm_cell_avx512,   update_accumulators_avx512, "avx512"};
#endif

/// The best variant for this CPU, chosen on first use (the race is benign: all threads pick
/// the same pointer).
static const Variant *variant(void) {
  static const Variant *chosen;
  const Variant *found = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
  if (found) return found;
  found = &portable;
#if defined(__x86_64__)
  switch (lopt_vector_level()) {
  case 2: found = &avx512; break;
  case 1: found = &avx2; break;
  default: break;
  }
#endif
  __atomic_store_n(&chosen, found, __ATOMIC_RELAXED);
  return found;
}

void lopt_velo_sum_squares(const LoptVeLOTensor *tensor, long start, long length, long row,
                           long rowStride, long column, long columnStride, double *totals) {
  variant()->sumSquares(tensor, start, length, row, rowStride, column, columnStride, totals);
}

void lopt_velo_apply(const LoptVeLOTensor *tensor, long start, long length, long row,
                     long rowStride, long column, long columnStride) {
  variant()->apply(tensor, start, length, row, rowStride, column, columnStride);
}

void lopt_velo_gemm(long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float *c, long ldc) {
  variant()->gemm(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

void lopt_velo_lstm_cell(const float *gates, float *hidden, float *cell, long rows, long h) {
  variant()->lstmCell(gates, hidden, cell, rows, h);
}

void lopt_velo_update_accumulators(LoptVeLOAccumulators *accumulators, long start, long length,
                                   long row, long rowStride, long column, long columnStride) {
  variant()->updateAccumulators(accumulators, start, length, row, rowStride, column,
                                columnStride);
}

const char *lopt_velo_kernel_variant(void) { return variant()->name; }
