// Vectorisable exp for float: the compiler turns loops over it into SIMD code, where libm's
// expf stays a scalar call per element. Relative error below 2e-7 over the float range.
// Double keeps std::exp: float64 is what the gradient checks run in.
// PYDL_HOST_DEVICE: CUDA kernels (the recurrent cells, attention's online softmax) use the
// very same polynomial, so both backends round the same way up to FMA contraction.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace pydl {

PYDL_HOST_DEVICE inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
#if defined(__CUDA_ARCH__)
  const float n = rintf(x * 1.44269504088896341f);  // round to nearest even, as nearbyint
#else
  // x / ln 2 rounded to the nearest integer (ties to even) by adding and removing 1.5 * 2^23,
  // exact for |x / ln 2| < 2^22: nearbyint needs SSE4.1, so in code built for baseline x86-64
  // it is a libm call per element and the loop around it stays scalar.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
#endif
  const float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;  // Cody-Waite
  // exp(r) on [-ln2/2, ln2/2]: degree-6 Taylor polynomial (Horner)
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // unsigned: shifting a negative exponent left is undefined for int32_t
#if defined(__CUDA_ARCH__)
  uint32_t bits = __float_as_uint(p);
  bits += static_cast<uint32_t>(static_cast<int32_t>(n)) << 23;  // times 2^n
  return __uint_as_float(bits);
#else
  uint32_t bits;
  std::memcpy(&bits, &p, sizeof(bits));
  bits += static_cast<uint32_t>(static_cast<int32_t>(n)) << 23;  // times 2^n
  std::memcpy(&p, &bits, sizeof(bits));
  return p;
#endif
}
PYDL_HOST_DEVICE inline double fast_exp(double x) { return std::exp(x); }

template <typename T>
PYDL_HOST_DEVICE inline T fast_sigmoid(T x) { return T(1) / (T(1) + fast_exp(-x)); }
template <typename T>
PYDL_HOST_DEVICE inline T fast_tanh(T x) { return T(2) / (T(1) + fast_exp(T(-2) * x)) - T(1); }
PYDL_HOST_DEVICE inline double fast_tanh(double x) { return std::tanh(x); }

}  // namespace pydl
