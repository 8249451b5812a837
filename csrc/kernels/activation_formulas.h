// The elementwise activation formulas and their derivatives, one definition shared by the CPU
// kernels (activation.cc, the GEMM epilogue) and the CUDA kernels (cuda/activation.cu,
// cuda/gemm.cu), so both backends compute the same function. Scalar and inline: the CPU
// loops that call them still vectorise where the formula allows (ReLU, LeakyReLU, the
// backward products); the transcendental ones cost their libm call either way.
//
// Backward derivatives are written as functions of the forward output y (all but GELU, whose
// gradient needs the input x: activation_needs_input).
#pragma once
#include <cmath>

#include "core/host_device.h"

namespace pydl {
namespace act {

constexpr double kLeakySlope = 0.01;                  // PyTorch's default negative slope
constexpr double kInvSqrt2 = 0.70710678118654752440;  // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.3989422804014327;    // 1 / sqrt(2 pi)

// max(v, 0) with std::max's NaN and -0 behaviour ((v < 0) ? 0 : v), as the CPU always had.
template <typename T>
PYDL_HOST_DEVICE inline T relu(T v) {
  return v < T(0) ? T(0) : v;
}
template <typename T>
PYDL_HOST_DEVICE inline T leaky_relu(T v) {
  return v > T(0) ? v : T(kLeakySlope) * v;
}
// Two branches keep exp() from overflowing for large |v|.
template <typename T>
PYDL_HOST_DEVICE inline T sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}
template <typename T>
PYDL_HOST_DEVICE inline T tanh(T v) {
  return std::tanh(v);
}
// The exact (erf) GELU, not the tanh approximation (which is what cuBLASLt's GELU epilogue
// computes: the CUDA GEMM applies this formula itself instead).
template <typename T>
PYDL_HOST_DEVICE inline T gelu(T v) {
  return T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2)));
}

// dx from dy and the forward output y (x for GELU).
template <typename T>
PYDL_HOST_DEVICE inline T relu_backward(T dy, T y) {
  return y > T(0) ? dy : T(0);
}
template <typename T>
PYDL_HOST_DEVICE inline T leaky_relu_backward(T dy, T y) {
  return y > T(0) ? dy : T(kLeakySlope) * dy;
}
template <typename T>
PYDL_HOST_DEVICE inline T sigmoid_backward(T dy, T y) {
  return dy * y * (T(1) - y);
}
template <typename T>
PYDL_HOST_DEVICE inline T tanh_backward(T dy, T y) {
  return dy * (T(1) - y * y);
}
template <typename T>
PYDL_HOST_DEVICE inline T gelu_backward(T dy, T x) {
  const T cdf = T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2)));
  const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
  return dy * (cdf + x * pdf);
}

}  // namespace act
}  // namespace pydl
