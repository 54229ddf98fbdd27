// The body of VeLO's C kernels, included once per instruction-set level by VeLOKernel.c with
// VL (lanes per vector), TARGET (a function attribute) and NAME(x) (a per-level suffix) set.
// Vectors are clang/GCC vector extensions, so one source serves every level.

#define VF NAME(vf)
#define VI NAME(vi)
#define INLINE static inline __attribute__((always_inline)) TARGET
typedef float VF __attribute__((vector_size(VL * 4)));
typedef int VI __attribute__((vector_size(VL * 4)));

/// `x` in every lane (`x − 0` is exactly `x`, so it folds into a broadcast; `0 + x` would not).
INLINE VF NAME(splat)(float x) { return x - (VF){}; }

/// `a < b ? b : a` and `a > b ? b : a` per lane (so a NaN in `a` is kept): one vmaxps / vminps
/// with AVX2 and AVX-512.
INLINE VF NAME(vmax)(VF a, VF b) {
#if VL == 16
  return (VF)_mm512_max_ps((__m512)b, (__m512)a);
#elif VL == 8
  return (VF)_mm256_max_ps((__m256)b, (__m256)a);
#else
  VI less = a < b;
  return (VF)(((VI)b & less) | ((VI)a & ~less));
#endif
}

INLINE VF NAME(vmin)(VF a, VF b) {
#if VL == 16
  return (VF)_mm512_min_ps((__m512)b, (__m512)a);
#elif VL == 8
  return (VF)_mm256_min_ps((__m256)b, (__m256)a);
#else
  return -NAME(vmax)(-a, -b);
#endif
}

INLINE VF NAME(clamp)(VF x, float low, float high) {
  return NAME(vmin)(NAME(vmax)(x, NAME(splat)(low)), NAME(splat)(high));
}

/// `count` (≤ VL) floats from `base + i`, zero-filled; stride 0 broadcasts `base[i]`.
INLINE VF NAME(load)(const float *base, long i, long stride, int count) {
  if (stride == 0) return NAME(splat)(base[i]);
  VF x = {};
  if (count == VL) {
    __builtin_memcpy(&x, base + i, sizeof x);
  } else {
    for (int lane = 0; lane < count; lane++) x[lane] = base[i + lane];
  }
  return x;
}

/// The sum of the lanes, as a tree (halves added until one lane is left).
INLINE float NAME(sum)(VF x) {
  float lanes[VL];
  __builtin_memcpy(lanes, &x, sizeof x);
  for (int width = VL / 2; width >= 1; width /= 2) {
    for (int lane = 0; lane < width; lane++) lanes[lane] += lanes[lane + width];
  }
  return lanes[0];
}

/// exp(x) to ~2 ulp: range reduction by ln 2 and a degree-6 polynomial, all in lanes.
INLINE VF NAME(exponential)(VF x) {
  VF xc = NAME(clamp)(x, -87, 88);
  VF magic = NAME(splat)(12582912.0f);  // 1.5 · 2^23: adding it rounds to an integer
  VF t = xc * 1.44269504f + magic;
  VF k = t - magic;
  VF r = xc - k * 0.69314575f - k * 1.4286068e-6f;
  VF poly = NAME(splat)(1.0f / 720);
  poly = poly * r + 1.0f / 120;
  poly = poly * r + 1.0f / 24;
  poly = poly * r + 1.0f / 6;
  poly = poly * r + 0.5f;
  poly = poly * r + 1;
  poly = poly * r + 1;
  VI scale = ((VI)t - 0x4B400000 + 127) << 23;
  return poly * (VF)scale;
}

/// Stores the first `count` lanes of `x` at `base + i`.
INLINE void NAME(store)(float *base, long i, VF x, int count) {
  if (count == VL) {
    __builtin_memcpy(base + i, &x, sizeof x);
  } else {
    for (int lane = 0; lane < count; lane++) base[i + lane] = x[lane];
  }
}

/// 1 in the first `count` lanes, 0 in the others.
INLINE VF NAME(mask)(int count) {
  VF mask = {};
  for (int lane = 0; lane < count; lane++) mask[lane] = 1;
  return mask;
}

/// 1/√x for positive finite `x` to about 1 ulp: the hardware estimate (14 bits with AVX-512,
/// 12 with AVX2) refined by one Newton step, or the quotient where there is no estimate.
INLINE VF NAME(rsqrt)(VF x) {
#if VL == 4
  return 1.0f / __builtin_elementwise_sqrt(x);
#else
#if VL == 16
  VF y = (VF)_mm512_rsqrt14_ps((__m512)x);
#else
  VF y = (VF)_mm256_rsqrt_ps((__m256)x);
#endif
  return y * (1.5f - 0.5f * x * y * y);
#endif
}

/// Hands the feature channels that need no second-moment factor (0–10 and 14) of one block to
/// `EMIT(value, channel)`, from the clipped gradient `gc`, the parameters `pe`, the rms EMA `rms`
/// and the momenta `mk[3]`. Defines `u` = rsqrt(rms + 1e-6).
#define NAME_ELEMENT_FEATURES(EMIT, gc, pe, rms, mk) \
  VF u = NAME(rsqrt)((rms) + 1e-6f);                 \
  EMIT(gc, 0);                                       \
  EMIT(NAME(clamp)(gc, -0.1f, 0.1f), 1);             \
  EMIT(pe, 2);                                       \
  EMIT(rms, 6);                                      \
  EMIT(u, 10);                                       \
  EMIT((gc) * u, 14);                                \
  for (int k = 0; k < 3; k++) {                      \
    EMIT(mk[k], 3 + k);                              \
    EMIT(mk[k] * u, 7 + k);                          \
  }

/// Hands the channels that use second-moment factors (11–13 and 27–29; for rank ≤ 1 tensors
/// also 15–26) of the block of `count` elements at `e` (row index `ri`, column index `ci`) to
/// `EMIT(value, channel)`, from `gc` and `mk[3]`.
#define NAME_FACTOR_FEATURES(EMIT, gc, mk)                                                     \
  for (int k = 0; k < 3; k++) {                                                                \
    if (factored) {                                                                            \
      VF sk = NAME(load)(t->rowPlanes + (3 + k) * t->rowCount, ri, rs, count) *                \
              NAME(load)(t->columnPlanes + (3 + k) * t->columnCount, ci, cs, count);           \
      EMIT((gc) * sk, 11 + k);                                                                 \
      EMIT(mk[k] * sk, 27 + k);                                                                \
    } else {                                                                                   \
      /* v_k ≥ (1 − β_k)·1e-30 after the update: the floor 1e-37 only keeps empty lanes finite */ \
      VF vk = NAME(load)(t->full + k * t->n, e, 1, count);                                     \
      EMIT((gc) * NAME(rsqrt)(NAME(vmax)(vk + 1e-9f, NAME(splat)(1e-9f))), 11 + k);            \
      EMIT(mk[k] * NAME(rsqrt)(NAME(vmax)(vk, NAME(splat)(1e-37f))), 27 + k);                  \
      EMIT(vk, 15 + k);                                                                        \
      EMIT(vk, 18 + k);                                                                        \
      VF rk = NAME(rsqrt)(vk + 1e-8f);                                                         \
      EMIT(rk, 21 + k);                                                                        \
      EMIT(rk, 24 + k);                                                                        \
    }                                                                                          \
  }

/// The clipped gradient `gc` and the momenta `mk[3]` of the block of `count` elements at `e`.
#define NAME_LOAD_GRADIENT_AND_MOMENTA                               \
  VF gc = NAME(clamp)(NAME(load)(t->g, e, 1, count), -1000, 1000);   \
  VF mk[3];                                                          \
  for (int k = 0; k < 3; k++) mk[k] = NAME(load)(t->m + k * t->n, e, 1, count);

/// Pass 1 for one block of `count` (≤ VL) elements: adds the squares of its factor channels
/// to `s` (lanes past `count` are masked).
INLINE void NAME(square_block)(const LoptVeLOTensor *t, long e, int count, long ri, long rs,
                               long ci, long cs, int factored, VF *s) {
  VF valid = count == VL ? NAME(splat)(1) : NAME(mask)(count);
#define SQUARE(x, c)     \
  {                      \
    VF y_ = (x) * valid; \
    s[c] += y_ * y_;     \
  }
  NAME_LOAD_GRADIENT_AND_MOMENTA
  NAME_FACTOR_FEATURES(SQUARE, gc, mk)
#undef SQUARE
}

/// Pass 1 over one run with constant strides; lanes are flushed to `totals` every 1024 elements.
INLINE void NAME(sum_squares_run)(const LoptVeLOTensor *t, long start, long length, long row,
                                  long rs, long column, long cs, int factored, double *totals) {
  for (long done = 0; done < length; done += 1024) {
    long size = length - done < 1024 ? length - done : 1024;
    VF s[30] = {};
    long j = 0;
    for (; j + VL <= size; j += VL) {
      long o = done + j;
      NAME(square_block)(t, start + o, VL, row + o * rs, rs, column + o * cs, cs, factored, s);
    }
    if (j < size) {
      long o = done + j;
      NAME(square_block)(t, start + o, (int)(size - j), row + o * rs, rs, column + o * cs, cs,
                         factored, s);
    }
    for (int c = 11; c < 30; c++) {
      if (c == 14 || (factored && c >= 15 && c < 27)) continue;
      totals[c] += NAME(sum)(s[c]);
    }
  }
}

/// Pass 2 for one block of `count` (≤ VL) elements: features, MLP, `p ← p − Δ`.
INLINE void NAME(apply_block)(const LoptVeLOTensor *t, long e, int count, long ri, long rs,
                              long ci, long cs, int factored) {
  const float *w = t->weights;
  // The first layer's sums, split by channel parity into two sets of accumulators so the
  // chains of dependent FMAs are half as long.
  VF h[4], odd[4] = {};
  for (int o = 0; o < 4; o++) {
    h[o] = factored ? NAME(load)(t->rowPlanes + (6 + o) * t->rowCount, ri, rs, count) +
                          NAME(load)(t->columnPlanes + (6 + o) * t->columnCount, ci, cs, count)
                    : NAME(splat)(w[120 + o]);
  }
#define MAC(x, c)                                                       \
  {                                                                     \
    VF x_ = (x), *sums_ = (c) % 2 ? odd : h;                            \
    for (int o_ = 0; o_ < 4; o_++) sums_[o_] += x_ * w[4 * (c) + o_]; \
  }
  NAME_LOAD_GRADIENT_AND_MOMENTA
  VF pe = NAME(load)(t->p, e, 1, count), rms = NAME(load)(t->v, e, 1, count);
  NAME_ELEMENT_FEATURES(MAC, gc, pe, rms, mk)
  NAME_FACTOR_FEATURES(MAC, gc, mk)
  for (int o = 0; o < 4; o++) h[o] += odd[o];
  VF a[4];
  for (int o = 0; o < 4; o++) {
    a[o] = NAME(splat)(w[140 + o]);
    for (int i = 0; i < 4; i++) a[o] += NAME(vmax)(h[i], (VF){}) * w[124 + 4 * i + o];
  }
#undef MAC
  VF b[4];
  for (int i = 0; i < 4; i++) b[i] = NAME(vmax)(a[i], (VF){});
  VF direction = w[156] + b[0] * w[144] + b[1] * w[147] + b[2] * w[150] + b[3] * w[153];
  VF magnitude = w[157] + b[0] * w[145] + b[1] * w[148] + b[2] * w[151] + b[3] * w[154];
  VF step = direction * NAME(exponential)(t->expMult * magnitude) * (t->sigma * t->stepScale);
  if (t->preconditionOutput) step *= u;
  NAME(store)(t->p, e, pe - step, count);
}

/// Pass 2 over one run with constant strides.
INLINE void NAME(apply_run)(const LoptVeLOTensor *tensor, long start, long length, long row,
                            long rs, long column, long cs, int factored) {
  // A local copy: the stores to `p` cannot change it, so its fields stay in registers.
  const LoptVeLOTensor copy = *tensor, *t = &copy;
  long j = 0;
  for (; j + VL <= length; j += VL) {
    NAME(apply_block)(t, start + j, VL, row + j * rs, rs, column + j * cs, cs, factored);
  }
  if (j < length) {
    NAME(apply_block)(t, start + j, (int)(length - j), row + j * rs, rs, column + j * cs, cs,
                      factored);
  }
}

TARGET static void NAME(sum_squares)(const LoptVeLOTensor *t, long start, long length, long row,
                                     long rs, long column, long cs, double *totals) {
  if (!t->factored) {
    NAME(sum_squares_run)(t, start, length, 0, 0, 0, 0, 0, totals);
  } else if (rs == 1 && cs == 1) {
    NAME(sum_squares_run)(t, start, length, row, 1, column, 1, 1, totals);
  } else if (rs == 1) {
    NAME(sum_squares_run)(t, start, length, row, 1, column, 0, 1, totals);
  } else {
    NAME(sum_squares_run)(t, start, length, row, 0, column, 1, 1, totals);
  }
}

TARGET static void NAME(apply)(const LoptVeLOTensor *t, long start, long length, long row,
                               long rs, long column, long cs) {
  if (!t->factored) {
    NAME(apply_run)(t, start, length, 0, 0, 0, 0, 0);
  } else if (rs == 1 && cs == 1) {
    NAME(apply_run)(t, start, length, row, 1, column, 1, 1);
  } else if (rs == 1) {
    NAME(apply_run)(t, start, length, row, 1, column, 0, 1);
  } else {
    NAME(apply_run)(t, start, length, row, 0, column, 1, 1);
  }
}

/// Adds `q[0 ..< size]` element-wise to `sums`.
INLINE void NAME(add_each)(const float *q, long size, double *restrict sums) {
  for (long j = 0; j < size; j++) sums[j] += q[j];
}

/// Σ q[0 ..< size] in double, in 8 independent partial sums (a vector, not a latency chain).
INLINE double NAME(total)(const float *q, long size) {
  double part[8] = {};
  long j = 0;
  for (; j + 8 <= size; j += 8) {
    for (int l = 0; l < 8; l++) part[l] += q[j + l];
  }
  for (; j < size; j++) part[0] += q[j];
  double total = 0;
  for (int l = 0; l < 8; l++) total += part[l];
  return total;
}

/// One block of `count` (≤ VL) elements at `i` of the accumulator update: adds to the lane
/// sums (`moments`: Σp² and the six centred sums of the previous values; `sums`: the new
/// momenta and rms; `squares`: the element channels, channel 14 at index 11 and channel 2
/// (p²) left to `moments[0]`) and leaves g² + 1e-30 in `q`.
INLINE void NAME(accumulate_block)(const LoptVeLOAccumulators *a, long i, int count, float *q,
                                   VF *moments, VF *sums, VF *squares) {
  long n = a->n;
  const float *bm = a->momentumDecay, *mu = a->means;
  VF valid = count == VL ? NAME(splat)(1) : NAME(mask)(count);
  VF pe = NAME(load)(a->p, i, 1, count);
  VF gc = NAME(clamp)(NAME(load)(a->g, i, 1, count), -1000, 1000);
  VF ve = NAME(load)(a->v, i, 1, count);
  moments[0] += pe * pe;
  VF mk[3];
  for (int k = 0; k < 3; k++) {
    VF old = NAME(load)(a->m + k * n, i, 1, count);
    VF d = (old - mu[k]) * valid, r = (ve - mu[k]) * valid;
    moments[1 + k] += d * d;
    moments[4 + k] += r * r;
    mk[k] = bm[k] * old + (1 - bm[k]) * gc;
    NAME(store)(a->m + k * n, i, mk[k], count);
    sums[k] += mk[k];
  }
  ve = a->rmsDecay * ve + (1 - a->rmsDecay) * (gc * gc);
  NAME(store)(a->v, i, ve, count);
  sums[3] += ve;
  // u of an empty lane is rsqrt(1e-6), so channel 10 is masked.
#define SQUARE(x, c)                          \
  if ((c) != 2) {                             \
    VF y_ = (c) == 10 ? (x) * valid : (x);    \
    squares[(c) == 14 ? 11 : (c)] += y_ * y_; \
  }
  NAME_ELEMENT_FEATURES(SQUARE, gc, pe, ve, mk)
#undef SQUARE
  NAME(store)(q, 0, gc * gc + 1e-30f, count);
}

TARGET static void NAME(update_accumulators)(LoptVeLOAccumulators *accumulators, long start,
                                             long length, long row, long rs, long column,
                                             long cs) {
  // A local copy: the stores to `m` and `v` cannot change it, so its fields stay in registers.
  const LoptVeLOAccumulators copy = *accumulators, *a = &copy;
  const float *bf = a->factoredDecay;
  // Lane sums are flushed to the double totals every 1024 elements.
  float q[1024];
  for (long done = 0; done < length; done += 1024) {
    long size = length - done < 1024 ? length - done : 1024;
    VF moments[7] = {}, sums[4] = {}, squares[12] = {};
    long j = 0;
    for (; j + VL <= size; j += VL) {
      NAME(accumulate_block)(a, start + done + j, VL, q + j, moments, sums, squares);
    }
    if (j < size) {
      NAME(accumulate_block)(a, start + done + j, (int)(size - j), q + j, moments, sums,
                             squares);
    }
    for (int k = 0; k < 7; k++) accumulators->moments[k] += NAME(sum)(moments[k]);
    for (int k = 0; k < 4; k++) accumulators->sums[k] += NAME(sum)(sums[k]);
    squares[2] = moments[0];
    for (int c = 0; c < 12; c++) accumulators->squares[c == 11 ? 14 : c] += NAME(sum)(squares[c]);
    long first = start + done;
    if (a->rowSums) {
      double *rows = a->rowSums + row + done * rs, *columns = a->columnSums + column + done * cs;
      // A run moves along rows, columns or both (stride 1); a fixed row or column gets the total.
      if (rs) NAME(add_each)(q, size, rows);
      else rows[0] += NAME(total)(q, size);
      if (cs) NAME(add_each)(q, size, columns);
      else columns[0] += NAME(total)(q, size);
    } else {
      for (int k = 0; k < 3; k++) {
        float *plane = a->full + k * a->n + first;
        for (long i = 0; i < size; i++) plane[i] = bf[k] * plane[i] + (1 - bf[k]) * q[i];
      }
    }
  }
}

INLINE VF NAME(sigmoid)(VF x) { return 1.0f / (1.0f + NAME(exponential)(-x)); }

/// tanh(x) = 1 − 2 / (exp(2x) + 1): absolute error ~1e-7 (the relative error of tiny |x| is
/// larger, which the LSTM's tolerances allow).
INLINE VF NAME(tanh)(VF x) { return 1.0f - 2.0f / (NAME(exponential)(2.0f * x) + 1.0f); }

/// One LSTM step per row from the gate pre-activations `[i, g, f, o]` (forget bias +1).
TARGET static void NAME(lstm_cell)(const float *gates, float *hidden, float *cell, long rows,
                                   long h) {
  for (long r = 0; r < rows; r++) {
    const float *z = gates + r * 4 * h;
    float *c = cell + r * h, *out = hidden + r * h;
    for (long j = 0; j < h; j += VL) {
      int count = h - j < VL ? (int)(h - j) : VL;
      VF input = NAME(sigmoid)(NAME(load)(z, j, 1, count));
      VF candidate = NAME(tanh)(NAME(load)(z + h, j, 1, count));
      VF forget = NAME(sigmoid)(NAME(load)(z + 2 * h, j, 1, count) + 1.0f);
      VF output = NAME(sigmoid)(NAME(load)(z + 3 * h, j, 1, count));
      VF next = forget * NAME(load)(c, j, 1, count) + input * candidate;
      VF state = output * NAME(tanh)(next);
      for (int lane = 0; lane < count; lane++) {
        c[j + lane] = next[lane];
        out[j + lane] = state[lane];
      }
    }
  }
}

/// Rows of A per register tile: 8 × 2 accumulators fit AVX-512's 32 registers, 4 × 2 the 16
/// of AVX2 and SSE.
#define MR (VL == 16 ? 8 : 4)

/// One register tile of the product: `rows` (≤ MR) rows × `vectors` (≤ 2) vectors of columns.
INLINE void NAME(gemm_tile)(int rows, int vectors, long k, float alpha, const float *a, long lda,
                            const float *b, long ldb, float *c, long ldc) {
  VF acc[MR][2] = {};
  for (long l = 0; l < k; l++) {
    VF bv[2];
    for (int v = 0; v < vectors; v++) bv[v] = NAME(load)(b + l * ldb, v * VL, 1, VL);
    for (int r = 0; r < rows; r++) {
      VF x = NAME(splat)(a[r * lda + l]);
      for (int v = 0; v < vectors; v++) acc[r][v] += x * bv[v];
    }
  }
  for (int r = 0; r < rows; r++) {
    for (int v = 0; v < vectors; v++) {
      VF out = NAME(load)(c + r * ldc, v * VL, 1, VL) + alpha * acc[r][v];
      __builtin_memcpy(c + r * ldc + v * VL, &out, sizeof out);
    }
  }
}

/// Blocks of 64 rows of B outer (each read in full, row by row, then reused from cache; a
/// column panel of a row-major B strides by `ldb` and would thrash the cache), column panels of
/// 2·VL next, tiles of MR rows of A inner.
TARGET static void NAME(gemm)(long m, long n, long k, float alpha, const float *a, long lda,
                              const float *b, long ldb, float *c, long ldc) {
  for (long l = 0; l < k; l += 64) {
    long kc = k - l < 64 ? k - l : 64;
    const float *al = a + l, *bl = b + l * ldb;
    long j = 0;
    for (; j + 2 * VL <= n; j += 2 * VL) {
      // The 64 × 2·VL block of B, copied contiguously so the row tiles read it from L1.
      float panel[64 * 2 * VL];
      for (long q = 0; q < kc; q++) __builtin_memcpy(panel + q * 2 * VL, bl + q * ldb + j, 8 * VL);
      long i = 0;
      for (; i + MR <= m; i += MR)
        NAME(gemm_tile)(MR, 2, kc, alpha, al + i * lda, lda, panel, 2 * VL, c + i * ldc + j, ldc);
      for (; i < m; i++)
        NAME(gemm_tile)(1, 2, kc, alpha, al + i * lda, lda, panel, 2 * VL, c + i * ldc + j, ldc);
    }
    for (; j + VL <= n; j += VL) {
      for (long i = 0; i < m; i++)
        NAME(gemm_tile)(1, 1, kc, alpha, al + i * lda, lda, bl + j, ldb, c + i * ldc + j, ldc);
    }
    for (; j < n; j++) {
      for (long i = 0; i < m; i++) {
        float sum = 0;
        for (long q = 0; q < kc; q++) sum += al[i * lda + q] * bl[q * ldb + j];
        c[i * ldc + j] += alpha * sum;
      }
    }
  }
}

#undef MR
#undef NAME_FEATURES
#undef INLINE
#undef VI
#undef VF
