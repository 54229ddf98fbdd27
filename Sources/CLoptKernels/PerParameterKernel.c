// The per-parameter MLP step of MLPLOpt and AdafacMLP (CLoptPerParameter.h), compiled for
// x86-64-v4, x86-64-v3 and baseline x86-64 (the loader picks one). Vectors are 32-lane
// clang/GCC vector extensions: two AVX-512, four AVX2 or eight SSE registers, so every
// operation has independent halves in flight.
//
// Three passes per tensor, the last two over blocks of 32 elements:
//   0. (factored tensors) row and column means of g² + 1e-30, the factored statistics and their
//      factors, as per-row and per-column tables;
//   1. the accumulators, then the element-level features and their sums of squares;
//   2. the element-level features again, the MLP (its first layer folded with the normalisation
//      scales, the step features and the table-level features) and the parameter update.
#include "CLoptPerParameter.h"
#include "VectorExponential.h"

#if defined(__x86_64__) && defined(__ELF__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define LANES 32
/// Elements per expansion of the factored tables (a multiple of LANES).
#define CHUNK 256
/// Elements per block of float sums; each block's sums are added up in double.
#define SUM_BLOCK 1024
/// Outputs of a dense layer computed together (their accumulators stay in registers).
#define TILE 4
#define INLINE static inline __attribute__((always_inline))

typedef float V __attribute__((vector_size(LANES * 4)));
typedef int VI __attribute__((vector_size(LANES * 4)));

// Helpers that take or return vectors are always inlined, so the vector ABI (which differs
// between the clones) never applies: the warning about it is silenced.
#pragma clang diagnostic ignored "-Wpsabi"

INLINE V load(const float *p) {
  V x;
  __builtin_memcpy(&x, p, sizeof x);
  return x;
}

INLINE void store(float *p, V x) { __builtin_memcpy(p, &x, sizeof x); }

INLINE V splat(float x) { return x - (V){}; }

INLINE V reciprocal_sqrt(V x) { return 1.0f / __builtin_elementwise_sqrt(x); }

/// exp(x) to about 3e-7 relative (VectorExponential.h).
INLINE V exponential(V x) {
  V xc = __builtin_elementwise_min(__builtin_elementwise_max(x, splat(-87)), splat(88));
  LOPT_EXPONENTIAL_OF_CLAMPED(V, VI, xc)
}

INLINE float scalar_rsqrt(float x) { return 1.0f / __builtin_sqrtf(x); }

/// `rsqrt(max(x, 1e-9))`.
INLINE float safe_rsqrt(float x) { return scalar_rsqrt(x > 1e-9f ? x : 1e-9f); }

INLINE float clip_unit(float x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

enum Mode { MLP_MODE, DIAGONAL_MODE, FACTORED_MODE };

/// The tensor, the network and where each piece of scratch lives.
typedef struct {
  const LoptPerParameterTensor *t;
  const LoptPerParameterNetwork *n;
  enum Mode mode;
  long k, features, elementChannels, firstWidth, maxWidth;
  // The factored view [P, X, Q, Y, R]; A-indexed tables have nA entries, B-indexed nB.
  long P, X, Q, Y, R, nA, nB;
  double *totals;
  float *scales, *blockSums, *weights, *bias, *block, *activations, *tail;
  float *sumsA, *sumsB, *groups, *factorA, *factorB, *tableA, *tableB, *expansion;
} Context;

/// The reference feature index of element channel `e`: AdafacMLP's factored tensors skip the
/// 4k row- and column-level features between the preconditioned gradient and momentum.
INLINE long reference_channel(const Context *c, long e) {
  return c->mode == FACTORED_MODE && e >= 4 + 3 * c->k ? e + 4 * c->k : e;
}

/// Reference indices of table A's statistic and root features for decay j (table B's are the
/// other pair): row statistics are channels 4+3k+j and 4+5k+j, column ones 4+4k+j and 4+6k+j.
INLINE long statistic_channel(const Context *c, int isA, long j) {
  int isRow = isA == c->t->rowAxisIsA;
  return 4 + (isRow ? 3 : 4) * c->k + j;
}

INLINE long root_channel(const Context *c, int isA, long j) {
  return statistic_channel(c, isA, j) + 2 * c->k;
}

/// Carves the scratch, in the order `lopt_per_parameter_scratch_floats` counts it.
static long layout(Context *c, const LoptPerParameterTensor *t, const LoptPerParameterNetwork *n,
                   float *scratch) {
  c->t = t;
  c->n = n;
  c->k = t->k;
  c->mode = !t->adafactor ? MLP_MODE : (t->factored ? FACTORED_MODE : DIAGONAL_MODE);
  c->features = n->widths[0] - n->stepFeatureCount;
  c->elementChannels = c->mode == FACTORED_MODE ? c->features - 4 * c->k : c->features;
  c->firstWidth = n->widths[1];
  c->maxWidth = 0;
  for (long l = 1; l <= n->layers; l++)
    if (n->widths[l] > c->maxWidth) c->maxWidth = n->widths[l];
  c->P = t->outer, c->X = t->extentA, c->Q = t->middle, c->Y = t->extentB, c->R = t->inner;
  c->nA = c->P * c->Q * c->Y * c->R;
  c->nB = c->P * c->X * c->Q * c->R;
  c->sumsA = c->sumsB = c->groups = c->factorA = c->factorB = 0;
  c->tableA = c->tableB = c->expansion = 0;
  long used = 0;
#define TAKE(field, type, floats)                          \
  c->field = scratch ? (type *)(void *)(scratch + used) : 0; \
  used += (floats);
  TAKE(totals, double, 2 * c->features)
  TAKE(scales, float, c->features)
  TAKE(blockSums, float, c->elementChannels * LANES)
  TAKE(weights, float, c->elementChannels * c->firstWidth)
  TAKE(bias, float, c->firstWidth)
  TAKE(block, float, c->elementChannels * LANES)
  TAKE(activations, float, 2 * c->maxWidth * LANES)
  TAKE(tail, float, (3 + 2 * c->k) * LANES)
  if (c->mode == FACTORED_MODE) {
    long larger = c->nA > c->nB ? c->nA : c->nB;
    TAKE(sumsA, float, c->nA)
    TAKE(sumsB, float, c->nB)
    TAKE(groups, float, c->k * larger)
    TAKE(factorA, float, c->k * c->nA)
    TAKE(factorB, float, c->k * c->nB)
    TAKE(tableA, float, c->firstWidth * c->nA)
    TAKE(tableB, float, c->firstWidth * c->nB)
    TAKE(expansion, float, (c->k + c->firstWidth) * CHUNK)
  }
#undef TAKE
  return used;
}

long lopt_per_parameter_scratch_floats(const LoptPerParameterTensor *tensor,
                                       const LoptPerParameterNetwork *network) {
  Context c;
  return layout(&c, tensor, network, 0);
}

// MARK: - Pass 0: factored statistics

/// Row and column means of g² + 1e-30, the statistics' EMAs, and the factors ρ (row statistics
/// over the mean of their group along the column axis) and γ (column statistics), as tables.
INLINE void update_factored(const Context *c) {
  const LoptPerParameterTensor *t = c->t;
  long k = c->k, X = c->X, Q = c->Q, Y = c->Y, R = c->R, L = Y * R;
  for (long i = 0; i < c->nA; i++) c->sumsA[i] = 0;
  for (long i = 0; i < c->nB; i++) c->sumsB[i] = 0;
  for (long row = 0; row < c->P * X * Q; row++) {
    long p = row / (X * Q), q = row % Q;
    float *a = c->sumsA + (p * Q + q) * L;
    float *b = c->sumsB + row * R;
    const float *g = t->gradients + row * L;
    if (R == 1) {
      // The row's sum in lanes, then across them.
      V lanes = {};
      long y = 0;
      for (; y + LANES <= Y; y += LANES) {
        V square = load(g + y) * load(g + y) + 1e-30f;
        store(a + y, load(a + y) + square);
        lanes += square;
      }
      float total = 0;
      for (; y < Y; y++) {
        float square = g[y] * g[y] + 1e-30f;
        a[y] += square;
        total += square;
      }
      for (long e = 0; e < LANES; e++) total += lanes[e];
      b[0] += total;
    } else {
      for (long y = 0; y < Y; y++) {
        for (long r = 0; r < R; r++) {
          float square = g[y * R + r] * g[y * R + r] + 1e-30f;
          a[y * R + r] += square;
          b[r] += square;
        }
      }
    }
  }
  float *statA = t->rowAxisIsA ? t->rows : t->columns;
  float *statB = t->rowAxisIsA ? t->columns : t->rows;
  for (long j = 0; j < k; j++) {
    float beta = clip_unit(t->adafactorDecays[j]), keep = 1 - beta;
    for (long i = 0; i < c->nA; i++)
      statA[j * c->nA + i] = beta * statA[j * c->nA + i] + keep * (c->sumsA[i] / (float)X);
    for (long i = 0; i < c->nB; i++)
      statB[j * c->nB + i] = beta * statB[j * c->nB + i] + keep * (c->sumsB[i] / (float)Y);
  }
  // The row statistics' groups: A's entries [P·Q, Y, R] averaged over Y, or B's [P, X, Q·R]
  // averaged over X.
  int rowsAreA = t->rowAxisIsA;
  long entries = rowsAreA ? c->nA : c->nB;
  const float *rows = rowsAreA ? statA : statB;
  float *rowFactor = rowsAreA ? c->factorA : c->factorB;
  const float *columns = rowsAreA ? statB : statA;
  float *columnFactor = rowsAreA ? c->factorB : c->factorA;
  long columnEntries = rowsAreA ? c->nB : c->nA;
  long extent = rowsAreA ? Y : X, stride = rowsAreA ? R : Q * R;
  long groupCount = entries / extent;
  // Entry i = (o·extent + e)·stride + s belongs to group o·stride + s.
  long groupBlocks = entries / (extent * stride);
  for (long j = 0; j < k; j++) {
    float *sums = c->groups + j * groupCount;
    const float *s = rows + j * entries;
    float *factor = rowFactor + j * entries;
    for (long i = 0; i < groupCount; i++) sums[i] = 0;
    for (long o = 0; o < groupBlocks; o++)
      for (long e = 0; e < extent; e++)
        for (long r = 0; r < stride; r++) sums[o * stride + r] += s[(o * extent + e) * stride + r];
    for (long o = 0; o < groupBlocks; o++) {
      for (long e = 0; e < extent; e++) {
        for (long r = 0; r < stride; r++) {
          long i = (o * extent + e) * stride + r;
          float mean = sums[o * stride + r] / (float)extent;
          factor[i] = safe_rsqrt(s[i] / (mean + 1e-9f));
        }
      }
    }
    for (long i = 0; i < columnEntries; i++)
      columnFactor[j * columnEntries + i] = safe_rsqrt(columns[j * columnEntries + i]);
  }
}

/// Adds the sums of squares of the table-level features (each table entry stands for X or Y
/// elements) to `totals`.
INLINE void add_table_sums(const Context *c) {
  const LoptPerParameterTensor *t = c->t;
  for (int isA = 1; isA >= 0; isA--) {
    const float *stat = (isA == t->rowAxisIsA) ? t->rows : t->columns;
    long entries = isA ? c->nA : c->nB;
    double multiplicity = (double)(isA ? c->X : c->Y);
    for (long j = 0; j < c->k; j++) {
      double statistic = 0, root = 0;
      for (long i = 0; i < entries; i++) {
        float s = stat[j * entries + i], r = scalar_rsqrt(s + 1e-8f);
        statistic += (double)(s * s);
        root += (double)(r * r);
      }
      c->totals[statistic_channel(c, isA, j)] += statistic * multiplicity;
      c->totals[root_channel(c, isA, j)] += root * multiplicity;
    }
  }
}

// MARK: - Folding the first layer

/// Normalisation scales from the sums; the first layer's weights for the element channels and
/// its bias with the step features folded in; the table-level features' contributions to the
/// first layer per table entry.
INLINE void fold(const Context *c) {
  const LoptPerParameterNetwork *n = c->n;
  long H = c->firstWidth, F = c->features;
  const float *w = n->theta + n->weightOffsets[0];
  const float *b = n->theta + n->biasOffsets[0];
  for (long f = 0; f < F; f++)
    c->scales[f] = scalar_rsqrt(1e-5f + (float)(c->totals[f] / (double)c->t->count));
  for (long h = 0; h < H; h++) {
    float bias = b[h];
    for (long s = 0; s < n->stepFeatureCount; s++) bias += n->stepFeatures[s] * w[(F + s) * H + h];
    c->bias[h] = bias;
  }
  for (long e = 0; e < c->elementChannels; e++) {
    long f = reference_channel(c, e);
    for (long h = 0; h < H; h++) c->weights[e * H + h] = c->scales[f] * w[f * H + h];
  }
  if (c->mode != FACTORED_MODE) return;
  for (int isA = 1; isA >= 0; isA--) {
    const float *stat = (isA == c->t->rowAxisIsA) ? c->t->rows : c->t->columns;
    long entries = isA ? c->nA : c->nB;
    float *table = isA ? c->tableA : c->tableB;
    for (long i = 0; i < H * entries; i++) table[i] = 0;
    for (long j = 0; j < c->k; j++) {
      long fs = statistic_channel(c, isA, j), fr = root_channel(c, isA, j);
      for (long i = 0; i < entries; i++) {
        float s = stat[j * entries + i] * c->scales[fs];
        float r = scalar_rsqrt(stat[j * entries + i] + 1e-8f) * c->scales[fr];
        for (long h = 0; h < H; h++) table[h * entries + i] += s * w[fs * H + h] + r * w[fr * H + h];
      }
    }
  }
}

/// Writes, for elements [start, start + count) of a factored tensor, the k planes of
/// φ_j = factorA_j·factorB_j and (when `withTables`) the first-layer planes tableA + tableB,
/// each plane CHUNK floats apart.
INLINE void expand(const Context *c, long start, long count, int withTables) {
  long L = c->Y * c->R, X = c->X, Q = c->Q, R = c->R;
  long row = start / L, offset = start % L, done = 0;
  long planes = c->k + (withTables ? c->firstWidth : 0);
  while (done < count) {
    long length = L - offset < count - done ? L - offset : count - done;
    long p = row / (X * Q), q = row % Q;
    long a0 = (p * Q + q) * L + offset, b0 = row * R;
    for (long plane = 0; plane < planes; plane++) {
      int isFactor = plane < c->k;
      const float *a = isFactor ? c->factorA + plane * c->nA : c->tableA + (plane - c->k) * c->nA;
      const float *b = isFactor ? c->factorB + plane * c->nB : c->tableB + (plane - c->k) * c->nB;
      float *out = c->expansion + plane * CHUNK + done;
      if (R == 1) {
        float bv = b[b0];
        if (isFactor) {
          for (long s = 0; s < length; s++) out[s] = a[a0 + s] * bv;
        } else {
          for (long s = 0; s < length; s++) out[s] = a[a0 + s] + bv;
        }
      } else {
        for (long s = 0; s < length; s++) {
          float bv = b[b0 + (offset + s) % R];
          out[s] = isFactor ? a[a0 + s] * bv : a[a0 + s] + bv;
        }
      }
    }
    done += length;
    row += 1;
    offset = 0;
  }
}

// MARK: - Blocks of 32 elements

/// One block's element arrays; accumulator planes are `stride` floats apart, expansion planes
/// CHUNK floats apart.
typedef struct {
  const float *g;
  float *p, *m, *v, *x;
  long stride;
  const float *expansion;
} Block;

/// Updates the momenta, the second moment and the full Adafactor accumulator of one block.
INLINE void accumulate(const Context *c, const Block *b) {
  const LoptPerParameterTensor *t = c->t;
  V g = load(b->g);
  for (long j = 0; j < c->k; j++) {
    float beta = t->momentumDecays[j];
    float *m = b->m + j * b->stride;
    store(m, beta * load(m) + (1 - beta) * g);
  }
  if (c->mode == MLP_MODE) return;
  float beta = clip_unit(t->rmsDecay);
  store(b->v, beta * load(b->v) + (1 - beta) * (g * g));
  if (c->mode != DIAGONAL_MODE) return;
  for (long j = 0; j < c->k; j++) {
    float decay = clip_unit(t->adafactorDecays[j]);
    float *x = b->x + j * b->stride;
    store(x, decay * load(x) + (1 - decay) * (g * g + 1e-30f));
  }
}

/// Writes the element-level features of one block to `c->block` (channel e at e·LANES).
INLINE void element_features(const Context *c, const Block *b) {
  long k = c->k;
  float *f = c->block;
  V g = load(b->g);
  store(f, g);
  store(f + LANES, load(b->p));
  for (long j = 0; j < k; j++) store(f + (2 + j) * LANES, load(b->m + j * b->stride));
  if (c->mode == MLP_MODE) return;
  V v = load(b->v);
  V u = reciprocal_sqrt(v + 1e-6f);
  store(f + (2 + k) * LANES, v);
  for (long j = 0; j < k; j++) store(f + (3 + k + j) * LANES, load(b->m + j * b->stride) * u);
  store(f + (3 + 2 * k) * LANES, u);
  for (long j = 0; j < k; j++) {
    V m = load(b->m + j * b->stride);
    if (c->mode == FACTORED_MODE) {
      V phi = load(b->expansion + j * CHUNK);
      store(f + (4 + 2 * k + j) * LANES, g * phi);
      store(f + (4 + 3 * k + j) * LANES, m * phi);
    } else {
      V x = load(b->x + j * b->stride);
      V root = reciprocal_sqrt(x + 1e-8f);
      store(f + (4 + 2 * k + j) * LANES, g * reciprocal_sqrt(__builtin_elementwise_max(x + 1e-9f, splat(1e-9f))));
      store(f + (4 + 3 * k + j) * LANES, x);
      store(f + (4 + 4 * k + j) * LANES, x);
      store(f + (4 + 5 * k + j) * LANES, root);
      store(f + (4 + 6 * k + j) * LANES, root);
      store(f + (4 + 7 * k + j) * LANES, m * reciprocal_sqrt(x + 1e-6f));
    }
  }
}

/// `out[o] = relu?(bias[o] + add[o] + Σ_i in[i]·w[i, o])` for one block (`add` planes CHUNK apart,
/// or NULL).
INLINE void dense(const float *in, long fanIn, const float *w, const float *bias, const float *add,
                  long fanOut, int relu, float *out) {
  long o = 0;
  for (; o + TILE <= fanOut; o += TILE) {
    V acc[TILE];
    for (int s = 0; s < TILE; s++)
      acc[s] = add ? splat(bias[o + s]) + load(add + (o + s) * CHUNK) : splat(bias[o + s]);
    for (long i = 0; i < fanIn; i++) {
      V x = load(in + i * LANES);
      for (int s = 0; s < TILE; s++) acc[s] += x * w[i * fanOut + o + s];
    }
    for (int s = 0; s < TILE; s++)
      store(out + (o + s) * LANES, relu ? __builtin_elementwise_max(acc[s], splat(0)) : acc[s]);
  }
  for (; o < fanOut; o++) {
    V acc = add ? splat(bias[o]) + load(add + o * CHUNK) : splat(bias[o]);
    for (long i = 0; i < fanIn; i++) acc += load(in + i * LANES) * w[i * fanOut + o];
    store(out + o * LANES, relu ? __builtin_elementwise_max(acc, splat(0)) : acc);
  }
}

/// Runs the MLP on `c->block` and applies the step to the block's parameters; returns the
/// direction and magnitude planes (for the trace) in `*outputs`.
INLINE void apply_network(const Context *c, const Block *b, V *step, const float **outputs) {
  const LoptPerParameterNetwork *n = c->n;
  float *buffers[2] = {c->activations, c->activations + c->maxWidth * LANES};
  const float *input = c->block;
  for (long l = 0; l < n->layers; l++) {
    int relu = l + 1 < n->layers;
    float *out = buffers[l % 2];
    if (l == 0) {
      const float *add = c->mode == FACTORED_MODE ? b->expansion + c->k * CHUNK : 0;
      dense(input, c->elementChannels, c->weights, c->bias, add, n->widths[1], relu, out);
    } else {
      dense(input, n->widths[l], n->theta + n->weightOffsets[l], n->theta + n->biasOffsets[l], 0,
            n->widths[l + 1], relu, out);
    }
    input = out;
  }
  V direction = load(input), magnitude = load(input + LANES);
  *step = direction * exponential(magnitude * n->expMult) * n->stepMult;
  store(b->p, load(b->p) - *step);
  *outputs = input;
}

/// Copies the trace of the first `lanes` elements of the block starting at `first`.
static void write_trace(const Context *c, const LoptPerParameterTrace *trace, long first,
                        long lanes, const float *outputs, const float *step) {
  long F = c->features, L = c->Y * c->R;
  for (long e = 0; e < lanes; e++) {
    long i = first + e;
    for (long ch = 0; ch < c->elementChannels; ch++)
      trace->features[i * F + reference_channel(c, ch)] = c->block[ch * LANES + e];
    if (c->mode == FACTORED_MODE) {
      long row = i / L, offset = i % L, p = row / (c->X * c->Q), q = row % c->Q;
      long index[2] = {(p * c->Q + q) * L + offset, row * c->R + offset % c->R};
      for (int isA = 1; isA >= 0; isA--) {
        const float *stat = (isA == c->t->rowAxisIsA) ? c->t->rows : c->t->columns;
        long entries = isA ? c->nA : c->nB;
        for (long j = 0; j < c->k; j++) {
          float s = stat[j * entries + index[isA ? 0 : 1]];
          trace->features[i * F + statistic_channel(c, isA, j)] = s;
          trace->features[i * F + root_channel(c, isA, j)] = scalar_rsqrt(s + 1e-8f);
        }
      }
    }
    trace->outputs[3 * i] = outputs[e];
    trace->outputs[3 * i + 1] = outputs[LANES + e];
    trace->outputs[3 * i + 2] = step[e];
  }
}

/// Pass 1 or 2 over one block of `lanes` (≤ LANES) elements at `first`; a partial block runs on
/// zero-filled copies whose used lanes are copied back.
INLINE void run_block(const Context *c, long first, long lanes, const float *expansion, int pass,
                      const LoptPerParameterTrace *trace) {
  const LoptPerParameterTensor *t = c->t;
  Block b = {t->gradients + first, t->parameters + first, t->momentum + first,
             t->rms ? t->rms + first : 0, t->diagonal ? t->diagonal + first : 0, t->count,
             expansion};
  long planes = 3 + 2 * c->k;
  if (lanes < LANES) {
    float *tail = c->tail;
    for (long i = 0; i < planes * LANES; i++) tail[i] = 0;
    float *g = tail, *p = tail + LANES, *v = tail + 2 * LANES, *m = tail + 3 * LANES;
    float *x = m + c->k * LANES;
    for (long e = 0; e < lanes; e++) {
      g[e] = b.g[e];
      p[e] = b.p[e];
      if (b.v) v[e] = b.v[e];
      for (long j = 0; j < c->k; j++) {
        m[j * LANES + e] = b.m[j * t->count + e];
        if (b.x) x[j * LANES + e] = b.x[j * t->count + e];
      }
    }
    Block padded = {g, p, m, v, x, LANES, expansion};
    if (pass == 1) {
      accumulate(c, &padded);
      element_features(c, &padded);
      for (long ch = 0; ch < c->elementChannels; ch++)
        for (long e = lanes; e < LANES; e++) c->block[ch * LANES + e] = 0;
    } else {
      element_features(c, &padded);
      V step;
      const float *outputs;
      apply_network(c, &padded, &step, &outputs);
      if (trace) write_trace(c, trace, first, lanes, outputs, (const float *)&step);
    }
    for (long e = 0; e < lanes; e++) {
      b.p[e] = p[e];
      if (b.v) b.v[e] = v[e];
      for (long j = 0; j < c->k; j++) {
        b.m[j * t->count + e] = m[j * LANES + e];
        if (b.x) b.x[j * t->count + e] = x[j * LANES + e];
      }
    }
  } else if (pass == 1) {
    accumulate(c, &b);
    element_features(c, &b);
  } else {
    element_features(c, &b);
    V step;
    const float *outputs;
    apply_network(c, &b, &step, &outputs);
    if (trace) write_trace(c, trace, first, lanes, outputs, (const float *)&step);
  }
  if (pass == 1) {
    for (long ch = 0; ch < c->elementChannels; ch++) {
      V f = load(c->block + ch * LANES);
      store(c->blockSums + ch * LANES, load(c->blockSums + ch * LANES) + f * f);
    }
  }
}

/// Adds the block sums of squares to the double totals and clears them.
INLINE void flush_sums(const Context *c) {
  for (long ch = 0; ch < c->elementChannels; ch++) {
    double total = 0;
    for (long e = 0; e < LANES; e++) total += (double)c->blockSums[ch * LANES + e];
    c->totals[reference_channel(c, ch)] += total;
    for (long e = 0; e < LANES; e++) c->blockSums[ch * LANES + e] = 0;
  }
}

/// Pass 1 (`pass` = 1) or 2 over the whole tensor, chunk by chunk.
INLINE void run_pass(const Context *c, int pass, const LoptPerParameterTrace *trace) {
  long count = c->t->count;
  for (long start = 0; start < count; start += CHUNK) {
    long length = count - start < CHUNK ? count - start : CHUNK;
    if (c->mode == FACTORED_MODE) expand(c, start, length, pass == 2);
    for (long first = start; first < start + length; first += LANES) {
      long lanes = start + length - first < LANES ? start + length - first : LANES;
      const float *expansion = c->mode == FACTORED_MODE ? c->expansion + (first - start) : 0;
      run_block(c, first, lanes, expansion, pass, trace);
    }
    if (pass == 1 && ((start + length) % SUM_BLOCK == 0 || start + length == count))
      flush_sums(c);
  }
}

CLONES void lopt_per_parameter_step(const LoptPerParameterTensor *tensor,
                                    const LoptPerParameterNetwork *network, float *scratch,
                                    const LoptPerParameterTrace *trace) {
  if (tensor->count <= 0) return;
  Context c;
  layout(&c, tensor, network, scratch);
  for (long f = 0; f < c.features; f++) c.totals[f] = 0;
  for (long i = 0; i < c.elementChannels * LANES; i++) c.blockSums[i] = 0;
  if (c.mode == FACTORED_MODE) {
    update_factored(&c);
    add_table_sums(&c);
  }
  run_pass(&c, 1, 0);
  fold(&c);
  if (trace) {
    run_pass(&c, 2, trace);
    for (long f = 0; f < c.features; f++) trace->scales[f] = c.scales[f];
  } else {
    run_pass(&c, 2, 0);
  }
}
