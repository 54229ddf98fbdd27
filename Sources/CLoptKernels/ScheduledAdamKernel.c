// ScheduledAdamLOpt's Adam passes (CLoptScheduledAdam.h), compiled for x86-64-v4, x86-64-v3
// and baseline x86-64 (the loader picks one). Vectors are 16-lane clang/GCC vector
// extensions: one AVX-512 register, two AVX2 or four SSE registers.
#include "CLoptScheduledAdam.h"

#if defined(__x86_64__) && defined(__ELF__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define LANES 16
/// Elements per block of float sums; each block's sums are added up in double.
#define BLOCK 1024
#define INLINE static inline __attribute__((always_inline))

typedef float Floats __attribute__((vector_size(LANES * 4)));
typedef double Doubles __attribute__((vector_size(LANES * 8)));

// Helpers take and return no vectors by value: a 64-byte vector argument has a different ABI
// with and without AVX-512, which clang rejects in the x86-64-v3 and baseline clones.

/// Adam's direction `m·c₁ / (√(v·c₂) + ε)` and `1 / (√(v·c₂) + ε)`, with an exact square
/// root and division.
INLINE void direction(const Floats *m, const Floats *v, LoptAdamMoments k, Floats *d,
                      Floats *inverse) {
  *inverse = 1.0f / (__builtin_elementwise_sqrt(*v * k.secondCorrection) + k.epsilon);
  *d = *m * k.firstCorrection * *inverse;
}

/// One vector of the moments pass: updates `m` and `v` and adds g², p², m², d², u² to `sums`.
INLINE void update(const float *g, const float *p, float *m, float *v, LoptAdamMoments k,
                   Floats *sums) {
  Floats gi, pi, mi, vi;
  __builtin_memcpy(&gi, g, sizeof gi);
  __builtin_memcpy(&pi, p, sizeof pi);
  __builtin_memcpy(&mi, m, sizeof mi);
  __builtin_memcpy(&vi, v, sizeof vi);
  mi = k.beta1 * mi + (1 - k.beta1) * gi;
  vi = k.beta2 * vi + (1 - k.beta2) * gi * gi;
  __builtin_memcpy(m, &mi, sizeof mi);
  __builtin_memcpy(v, &vi, sizeof vi);
  Floats d, inverse;
  direction(&mi, &vi, k, &d, &inverse);
  Floats u = gi * inverse;
  sums[0] += gi * gi;
  sums[1] += pi * pi;
  sums[2] += mi * mi;
  sums[3] += d * d;
  sums[4] += u * u;
}

/// One vector of `p ← p − η·m·c₁ / (√(v·c₂) + ε)`.
INLINE void step(float *p, const float *m, const float *v, LoptAdamMoments k, float eta) {
  Floats pi, mi, vi, d, inverse;
  __builtin_memcpy(&pi, p, sizeof pi);
  __builtin_memcpy(&mi, m, sizeof mi);
  __builtin_memcpy(&vi, v, sizeof vi);
  direction(&mi, &vi, k, &d, &inverse);
  pi -= eta * d;
  __builtin_memcpy(p, &pi, sizeof pi);
}

CLONES void lopt_scheduled_adam_moments(const float *g, const float *p, float *m, float *v,
                                        long count, LoptAdamMoments moments, float *sums) {
  Doubles totals[5] = {};
  long i = 0;
  while (i < count) {
    long end = count - i < BLOCK ? count : i + BLOCK;
    Floats block[5] = {};
    for (; i + LANES <= end; i += LANES) update(g + i, p + i, m + i, v + i, moments, block);
    if (i < end) {
      // The last partial vector, through zero-filled copies; the unused lanes' d and u (zero,
      // or NaN when ε = 0) are cleared before they are added.
      long n = end - i;
      float tail[4][LANES] = {};
      Floats extra[5] = {};
      for (long e = 0; e < n; e++) {
        tail[0][e] = g[i + e];
        tail[1][e] = p[i + e];
        tail[2][e] = m[i + e];
        tail[3][e] = v[i + e];
      }
      update(tail[0], tail[1], tail[2], tail[3], moments, extra);
      for (long e = n; e < LANES; e++) extra[3][e] = extra[4][e] = 0;
      for (int s = 0; s < 5; s++) block[s] += extra[s];
      for (long e = 0; e < n; e++) {
        m[i + e] = tail[2][e];
        v[i + e] = tail[3][e];
      }
      i = end;
    }
    for (int s = 0; s < 5; s++) totals[s] += __builtin_convertvector(block[s], Doubles);
  }
  for (int s = 0; s < 5; s++) {
    double total = 0;
    for (int lane = 0; lane < LANES; lane++) total += totals[s][lane];
    sums[s] = (float)total;
  }
}

CLONES void lopt_scheduled_adam_apply(float *p, const float *m, const float *v, long count,
                                      LoptAdamMoments moments, float eta) {
  long i = 0;
  for (; i + LANES <= count; i += LANES) step(p + i, m + i, v + i, moments, eta);
  if (i < count) {
    long n = count - i;
    float tail[3][LANES] = {};
    for (long e = 0; e < n; e++) {
      tail[0][e] = p[i + e];
      tail[1][e] = m[i + e];
      tail[2][e] = v[i + e];
    }
    step(tail[0], tail[1], tail[2], moments, eta);
    for (long e = 0; e < n; e++) p[i + e] = tail[0][e];
  }
}
