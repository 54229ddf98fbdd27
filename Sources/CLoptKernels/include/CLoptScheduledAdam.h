// ScheduledAdamLOpt's per-tensor Adam passes in C (ScheduledAdamKernel.c), compiled for
// x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline, chosen by the loader. None of
// them allocates. The variants differ only in rounding (FMA contraction, summation order);
// square roots and divisions are exact IEEE operations.
#ifndef CLOPT_SCHEDULED_ADAM_H
#define CLOPT_SCHEDULED_ADAM_H

/// Adam's decays and one step's bias corrections.
typedef struct {
  float beta1;
  float beta2;
  float epsilon;
  /// 1 / (1 − β₁ᵗ).
  float firstCorrection;
  /// 1 / (1 − β₂ᵗ).
  float secondCorrection;
} LoptAdamMoments;

/// Updates `m ← β₁m + (1 − β₁)g` and `v ← β₂v + (1 − β₂)g²` over `count` elements and writes
/// `sums[0…4]` = Σg², Σp², Σm², Σd², Σu² with the new moments, where
/// `d = m·c₁ / (√(v·c₂) + ε)` and `u = g / (√(v·c₂) + ε)` (float lanes added up in double
/// every 1024 elements).
void lopt_scheduled_adam_moments(const float *g, const float *p, float *m, float *v, long count,
                                 LoptAdamMoments moments, float *sums);

/// `p ← p − η·m·c₁ / (√(v·c₂) + ε)` over `count` elements.
void lopt_scheduled_adam_apply(float *p, const float *m, const float *v, long count,
                               LoptAdamMoments moments, float eta);

#endif
