// Element-wise maths the Swift compiler will vectorise.
//
// `Float.squareRoot()` in a Swift loop lowers to a guarded libcall that blocks
// vectorisation on this toolchain; these inline wrappers lower to the IEEE
// square-root instruction and keep loops vectorisable with bit-identical results.
#ifndef CLOPT_SHIMS_H
#define CLOPT_SHIMS_H

/// IEEE single-precision square root (correctly rounded).
static inline __attribute__((always_inline)) float lopt_sqrtf(float x) {
  return __builtin_elementwise_sqrt(x);
}

/// 1 / sqrt(x), computed as a correctly rounded square root followed by a division.
static inline __attribute__((always_inline)) float lopt_rsqrtf(float x) {
  return 1.0f / __builtin_elementwise_sqrt(x);
}

/// IEEE double-precision square root (correctly rounded).
static inline __attribute__((always_inline)) double lopt_sqrt(double x) {
  return __builtin_elementwise_sqrt(x);
}

#endif

#ifndef CLOPT_SHIMS_CPU_H
#define CLOPT_SHIMS_CPU_H

/// The best OpenBLAS kernel family this CPU can run: "SkylakeX" (AVX-512 F/BW/DQ/VL),
/// "Haswell" (AVX2 + FMA), or NULL when neither applies or the CPU is not x86-64.
static inline const char *lopt_openblas_core_for_cpu(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "Haswell";
#endif
  return 0;
}

#endif

/// Whether all `n` floats at `x` are finite (no NaN or infinity): one vectorised pass
/// (Finite.c).
int lopt_all_finite(const float *x, long n);

// VeLO kernels (a compiled C file in this target).
#include "CLoptVeLO.h"

// ScheduledAdamLOpt kernels (a compiled C file in this target).
#include "CLoptScheduledAdam.h"

// MLPLOpt and AdafacMLP kernels (a compiled C file in this target).
#include "CLoptPerParameter.h"
