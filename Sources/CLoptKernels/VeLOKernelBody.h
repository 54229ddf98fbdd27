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

/// exp(x) to about 3e-7 relative (VectorExponential.h), in lanes.
INLINE VF NAME(exponential)(VF x) {
  VF xc = NAME(clamp)(x, -87, 88);
  LOPT_EXPONENTIAL_OF_CLAMPED(VF, VI, xc)
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
      const float *rho = t->rowPlanes + (LOPT_VELO_FACTOR_PLANE + k) * t->rowCount;           \
      const float *gamma = t->columnPlanes + (LOPT_VELO_FACTOR_PLANE + k) * t->columnCount;   \
      VF sk = NAME(load)(rho, ri, rs, count) * NAME(load)(gamma, ci, cs, count);               \
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
    const long plane = LOPT_VELO_FIRST_LAYER_PLANE + o;
    h[o] = factored ? NAME(load)(t->rowPlanes + plane * t->rowCount, ri, rs, count) +
                          NAME(load)(t->columnPlanes + plane * t->columnCount, ci, cs, count)
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
  // Layers 2 and 3 as sums of pairs (short dependency chains).
  VF a[4], b[4];
  for (int i = 0; i < 4; i++) a[i] = NAME(vmax)(h[i], (VF){});
  for (int o = 0; o < 4; o++) {
    b[o] = NAME(vmax)((w[140 + o] + a[0] * w[124 + o] + a[1] * w[128 + o]) +
                          (a[2] * w[132 + o] + a[3] * w[136 + o]),
                      (VF){});
  }
#undef MAC
  VF direction = (w[156] + b[0] * w[144] + b[1] * w[147]) + (b[2] * w[150] + b[3] * w[153]);
  VF magnitude = (w[157] + b[0] * w[145] + b[1] * w[148]) + (b[2] * w[151] + b[3] * w[154]);
  VF step = direction * (t->sigma * t->stepScale) * NAME(exponential)(t->expMult * magnitude);
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

/// Rows of A per register tile: MR × 2 vectors of accumulators, 2 vectors of B and a broadcast
/// fit AVX-512's 32 registers (MR = 12) and the 16 of AVX2 and SSE (MR = 6).
#define MR (VL == 16 ? 12 : 6)
/// Rows of B per block: a block's panel of KC × 2·VL floats (32 KB for AVX-512) stays in L1.
#define KC 256
/// Rows of A up to which B is streamed row by row instead (measured: panels win above).
#define SR (VL == 16 ? 3 : 8)
/// Rows of B per pass of the streamed product.
#define KS 8
/// Rows of a panel that its first tile prefetches ahead of its reads (1 KB).
#define AHEAD (128 / VL)

/// Columns `j ..< j + count` (count ≤ VL) of `C += s · B` for `m` ≤ SR rows of C and `ks` rows
/// of B, `s` holding alpha · A broadcast.
INLINE void NAME(gemm_stream_columns)(int ks, int count, long m, long j, VF (*s)[KS],
                                      const float *b, long ldb, float *c, long ldc) {
  VF bv[KS];
#pragma clang loop unroll(full)
  for (int q = 0; q < ks; q++) bv[q] = NAME(load)(b + q * ldb, j, 1, count);
  for (long i = 0; i < m; i++) {
    VF acc = NAME(load)(c + i * ldc, j, 1, count);
#pragma clang loop unroll(full)
    for (int q = 0; q < ks; q++) acc += s[i][q] * bv[q];
    NAME(store)(c + i * ldc, j, acc, count);
  }
}

/// `C += alpha · A · B` for `m` ≤ SR rows of A and `ks` rows of B: B is read once, row by row
/// (a sequential stream that the hardware prefetcher keeps ahead of); C's few rows stay cached.
INLINE void NAME(gemm_stream)(int ks, long m, long n, float alpha, const float *a, long lda,
                              const float *b, long ldb, float *c, long ldc) {
  VF s[SR][KS];
  for (long i = 0; i < m; i++)
    for (int q = 0; q < ks; q++) s[i][q] = NAME(splat)(alpha * a[i * lda + q]);
  long j = 0;
  for (; j + VL <= n; j += VL) NAME(gemm_stream_columns)(ks, VL, m, j, s, b, ldb, c, ldc);
  if (j < n) NAME(gemm_stream_columns)(ks, (int)(n - j), m, j, s, b, ldb, c, ldc);
}

/// One register tile: `C[0 ..< rows, 0 ..< width] += alpha · A · B` for `height` (≤ MR) rows
/// of A (those past `rows` are computed, not stored) and `k` rows of 2·VL floats of B
/// (stride `ldb`). With `pack`, B comes from memory: each row is also copied to `pack`, and the
/// row AHEAD rows further on is prefetched (past the end, from `next`, the following panel).
INLINE void NAME(gemm_tile)(int height, int rows, long width, long k, float alpha,
                            const float *a, long lda, const float *b, long ldb, float *pack,
                            const float *next, float *c, long ldc) {
  VF acc[MR][2] = {};
  for (long l = 0; l < k; l++) {
    if (pack) {
      long la = l + AHEAD;
      const float *ahead = la < k ? b + la * ldb : next && la - k < k ? next + (la - k) * ldb : 0;
      if (ahead) {
        for (int o = 0; o < 2 * VL; o += 16) __builtin_prefetch(ahead + o);
        __builtin_prefetch(ahead + 2 * VL - 1);
      }
    }
    VF b0, b1;
    __builtin_memcpy(&b0, b + l * ldb, sizeof b0);
    __builtin_memcpy(&b1, b + l * ldb + VL, sizeof b1);
    if (pack) {
      __builtin_memcpy(pack + l * 2 * VL, &b0, sizeof b0);
      __builtin_memcpy(pack + l * 2 * VL + VL, &b1, sizeof b1);
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < height; r++) {
      VF x = NAME(splat)(a[r * lda + l]);
      acc[r][0] += x * b0;
      acc[r][1] += x * b1;
    }
  }
  for (int r = 0; r < height && r < rows; r++) {
    for (int v = 0; v < 2 && v * VL < width; v++) {
      int count = width - v * VL < VL ? (int)(width - v * VL) : VL;
      VF out = NAME(load)(c + r * ldc, v * VL, 1, count) + alpha * acc[r][v];
      NAME(store)(c + r * ldc, v * VL, out, count);
    }
  }
}

/// `gemm_tile` for `rows` ≤ MR rows of A, with the least height of MR / 3, 2·MR / 3 and MR that
/// holds them.
INLINE void NAME(gemm_rows)(int rows, long width, long k, float alpha, const float *a, long lda,
                            const float *b, long ldb, float *pack, const float *next, float *c,
                            long ldc) {
  if (rows <= MR / 3)
    NAME(gemm_tile)(MR / 3, rows, width, k, alpha, a, lda, b, ldb, pack, next, c, ldc);
  else if (rows <= 2 * MR / 3)
    NAME(gemm_tile)(2 * MR / 3, rows, width, k, alpha, a, lda, b, ldb, pack, next, c, ldc);
  else
    NAME(gemm_tile)(MR, rows, width, k, alpha, a, lda, b, ldb, pack, next, c, ldc);
}

/// `kc` rows × `width` (≤ 2·VL) columns of B against all rows of A. The first row tile reads
/// this panel from memory, so that the fetch overlaps its arithmetic, and copies it to `panel`,
/// where the other tiles find it in L1; a narrower panel is copied first, zero-padded. The last
/// m % MR rows of A come from `rest` (stride `kc`).
INLINE void NAME(gemm_panel)(long m, long width, long kc, float alpha, const float *a, long lda,
                             const float *rest, const float *b, long ldb, const float *next,
                             float *panel, float *c, long ldc) {
  int direct = width == 2 * VL;
  if (!direct) {
    for (long q = 0; q < kc; q++) {
      for (int v = 0; v < 2; v++) {
        long left = width - v * VL;
        VF x = NAME(load)(b + q * ldb, v * VL, 1, left < 0 ? 0 : left < VL ? (int)left : VL);
        __builtin_memcpy(panel + q * 2 * VL + v * VL, &x, sizeof x);
      }
    }
  }
  for (long i = 0; i < m; i += MR) {
    int rows = m - i < MR ? (int)(m - i) : MR;
    const float *ai = rows == MR ? a + i * lda : rest;
    long ldai = rows == MR ? lda : kc;
    int first = i == 0 && direct;
    NAME(gemm_rows)(rows, width, kc, alpha, ai, ldai, first ? b : panel, first ? ldb : 2 * VL,
                    first ? panel : 0, first ? next : 0, c + i * ldc, ldc);
  }
}

/// B (for VeLO a weight matrix, often far larger than L2) is read from memory once. Up to SR
/// rows of A: row by row (`gemm_stream`). More: in blocks of KC rows, each split into panels of
/// 2·VL columns (`gemm_panel`) that MR-row register tiles of A sweep, C's tiles being loaded and
/// stored once per block. No allocation: the panel and A's last rows are on the stack (44 KB
/// for AVX-512).
TARGET static void NAME(gemm)(long m, long n, long k, float alpha, const float *a, long lda,
                              const float *b, long ldb, float *c, long ldc) {
  if (m <= SR) {
    long l = 0;
#pragma clang loop unroll(full)
    for (int ks = KS; ks > 0; ks /= 2)  // passes of 8 rows of B, then 4, 2, 1
      for (; l + ks <= k; l += ks)
        NAME(gemm_stream)(ks, m, n, alpha, a + l, lda, b + l * ldb, ldb, c, ldc);
    return;
  }
  float panel[KC * 2 * VL] __attribute__((aligned(64)));
  float rest[MR * KC] __attribute__((aligned(64)));
  long full = m - m % MR;
  // For wide B with equally aligned rows, a narrower first panel makes the others start on a
  // multiple of 2·VL floats, so that reads from memory do not split cache lines.
  long peel = n < 1024 || ldb % (2 * VL) ? 0 : -(long)((__UINTPTR_TYPE__)b / 4) & (2 * VL - 1);
  for (long l = 0; l < k; l += KC) {
    long kc = k - l < KC ? k - l : KC;
    const float *al = a + l, *bl = b + l * ldb;
    for (long r = 0; r < MR; r++) {  // rows past m are zero: computed, never stored
      if (full + r < m) __builtin_memcpy(rest + r * kc, al + (full + r) * lda, kc * 4);
      else __builtin_memset(rest + r * kc, 0, kc * 4);
    }
    for (long j = 0, width; j < n; j += width) {
      width = j == 0 && peel ? peel : 2 * VL;
      if (width > n - j) width = n - j;
      const float *next = j + width + 2 * VL <= n ? bl + j + width : 0;
      NAME(gemm_panel)(m, width, kc, alpha, al, lda, rest, bl + j, ldb, next, panel, c + j, ldc);
    }
  }
}

#undef AHEAD
#undef KS
#undef SR
#undef KC
#undef MR
#undef NAME_ELEMENT_FEATURES
#undef NAME_FACTOR_FEATURES
#undef NAME_LOAD_GRADIENT_AND_MOMENTA
#undef INLINE
#undef VI
#undef VF
