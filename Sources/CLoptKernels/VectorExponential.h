// exp on float vectors of any width, shared by the kernels (a macro, since each kernel has its
// own vector types and function attributes).
#ifndef CLOPT_VECTOR_EXPONENTIAL_H
#define CLOPT_VECTOR_EXPONENTIAL_H

/// The statements of exp(x) to about 3e-7 relative for `xc`, x already clamped to [-87, 88]:
/// range reduction by ln 2 and a degree-6 polynomial in Estrin's order (a dependency chain of 4
/// operations instead of 6), lane by lane. `VF` is the float vector type, `VI` the int vector
/// type of the same width; the result is returned.
#define LOPT_EXPONENTIAL_OF_CLAMPED(VF, VI, xc)                                                  \
  VF magic = (VF){} + 12582912.0f; /* 1.5 · 2^23: adding it rounds to an integer */            \
  VF t = (xc) * 1.44269504f + magic;                                                             \
  VF k = t - magic;                                                                              \
  VF r = (xc) - k * 0.69314575f - k * 1.4286068e-6f;                                             \
  VF r2 = r * r;                                                                                 \
  VF low = (r + 1) + r2 * (r * (1.0f / 6) + 0.5f);                                               \
  VF high = (r * (1.0f / 120) + 1.0f / 24) + r2 * (1.0f / 720);                                  \
  VF poly = low + (r2 * r2) * high;                                                              \
  VI scale = ((VI)t - 0x4B400000 + 127) << 23;                                                   \
  return poly * (VF)scale;

#endif
