// Whole-buffer checks, compiled for AVX-512, AVX2 and baseline x86-64 (the loader picks one).
#include "CLoptShims.h"

#if defined(__x86_64__) && defined(__ELF__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

CLONES int lopt_all_finite(const float *x, long n) {
  // An all-ones exponent (NaN or ±∞) carries into the sign bit when 1 is added to it; 64
  // lanes of flags (four AVX-512 vectors) keep several loads in flight.
  unsigned flags[64] = {0};
  long i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int l = 0; l < 64; l++) {
      unsigned bits;
      __builtin_memcpy(&bits, x + i + l, 4);
      flags[l] |= (bits & 0x7F800000u) + 0x00800000u;
    }
  }
  unsigned all = 0;
  for (; i < n; i++) {
    unsigned bits;
    __builtin_memcpy(&bits, x + i, 4);
    all |= (bits & 0x7F800000u) + 0x00800000u;
  }
  for (int l = 0; l < 64; l++) all |= flags[l];
  return (all & 0x80000000u) == 0;
}
