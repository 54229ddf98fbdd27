// The per-parameter MLP step of MLPLOpt and AdafacMLP for one tensor in C
// (PerParameterKernel.c), compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline,
// chosen by the loader. It allocates nothing: every buffer is the caller's.
//
// Per element the step builds the optimizer's features x_c, normalises every channel over the
// tensor, x̂_c = x_c · rsqrt(1e-5 + mean x_c²), appends the training-step features, runs the MLP
// and applies p ← p − d · exp(expMult · a) · stepMult. The kernel folds the normalisation scales
// and the (per-tensor constant) step features into the first layer, and AdafacMLP's row- and
// column-level features into per-row and per-column tables, so per element it computes only the
// features that vary per element. Accumulators are stored decay-major: plane j of `k` holds
// decay j for every element.
#ifndef CLOPT_PER_PARAMETER_H
#define CLOPT_PER_PARAMETER_H

/// The per-element MLP: `layers` dense layers (`w` is `[in, out]`, `y = x·w + b`, ReLU between
/// layers, none after the last), read in place from θ.
typedef struct {
  const float *theta;
  /// `layers + 1` widths; `widths[0]` is the feature count plus `stepFeatureCount`, the last is 2.
  const long *widths;
  /// Offsets into θ of each layer's weights and biases.
  const long *weightOffsets;
  const long *biasOffsets;
  long layers;
  /// The training-step features appended to every element's normalised features.
  const float *stepFeatures;
  long stepFeatureCount;
  float expMult;
  float stepMult;
} LoptPerParameterNetwork;

/// One tensor: parameters, gradient and accumulators.
///
/// MLPLOpt's features (`adafactor` 0) are g, p and the k momenta; it leaves `rms`, `diagonal`,
/// `rows` and `columns` NULL. AdafacMLP's (`adafactor` 1) are the 4 + 8k listed in
/// AdafacMLP.swift; it sets `rms` and either `diagonal` (rank < 2) or, when `factored`, `rows`
/// and `columns`.
///
/// A factored tensor is described as the shape `[outer, extentA, middle, extentB, inner]`, where
/// A and B are its two factored axes in storage order; the row statistics average over the
/// largest axis (A when `rowAxisIsA`), the column statistics over the other.
typedef struct {
  float *parameters;
  const float *gradients;
  long count;
  int adafactor;
  int factored;
  /// k planes of `count`; decays are used as given (not clipped).
  float *momentum;
  const float *momentumDecays;
  long k;
  /// The second-moment accumulator (`count`), its decay (clipped to [0, 1]).
  float *rms;
  float rmsDecay;
  /// The Adafactor decays (k, clipped to [0, 1]).
  const float *adafactorDecays;
  /// The full accumulator of a rank < 2 tensor: k planes of `count`.
  float *diagonal;
  /// The factored statistics: k planes each of the row-statistics and column-statistics count.
  float *rows;
  float *columns;
  long outer, extentA, middle, extentB, inner;
  int rowAxisIsA;
} LoptPerParameterTensor;

/// Optional per-element intermediates, for tests against the reference's.
typedef struct {
  /// `count × features`: the raw features in the reference's order.
  float *features;
  /// `features`: the normalisation scale of each channel.
  float *scales;
  /// `count × 3`: direction, magnitude and the update subtracted from the parameter.
  float *outputs;
} LoptPerParameterTrace;

/// The number of floats of scratch `lopt_per_parameter_step` needs for `tensor` and `network`.
long lopt_per_parameter_scratch_floats(const LoptPerParameterTensor *tensor,
                                       const LoptPerParameterNetwork *network);

/// Updates the accumulators of `tensor` with its gradient and applies one step to its
/// parameters; fills `trace` when it is not NULL. `scratch` holds
/// `lopt_per_parameter_scratch_floats` floats.
void lopt_per_parameter_step(const LoptPerParameterTensor *tensor,
                             const LoptPerParameterNetwork *network, float *scratch,
                             const LoptPerParameterTrace *trace);

#endif
