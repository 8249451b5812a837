#include "kernels/activation.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace pydl {

Activation parse_activation(const std::string& name) {
  if (name.empty() || name == "linear" || name == "none") return Activation::Linear;
  if (name == "relu") return Activation::ReLU;
  if (name == "leaky_relu") return Activation::LeakyReLU;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  if (name == "gelu") return Activation::GELU;
  if (name == "softmax") return Activation::Softmax;
  throw ValueError("unknown activation '" + name +
                   "': expected one of relu, leaky_relu, sigmoid, tanh, gelu, softmax, linear");
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Linear: return "linear";
    case Activation::ReLU: return "relu";
    case Activation::LeakyReLU: return "leaky_relu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
    case Activation::GELU: return "gelu";
    case Activation::Softmax: return "softmax";
  }
  return "?";
}

namespace {

constexpr int64_t kParallelMin = 1 << 14;  // below this many elements, threads cost more than they save

template <typename T>
inline T sigmoid(T v) {
  // Two branches keep exp() from overflowing for large |v|.
  if (v >= 0) return T(1) / (T(1) + std::exp(-v));
  T e = std::exp(v);
  return e / (T(1) + e);
}

template <typename T>
void softmax_rows(Matrix<T> y, Matrix<const T> x) {
  const int64_t rows = x.rows, cols = x.cols;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t i = 0; i < rows; ++i) {
    const T* xi = x.row(i);
    T* yi = y.row(i);
    T m = xi[0];
    for (int64_t j = 1; j < cols; ++j) m = std::max(m, xi[j]);
    T s = 0;
    for (int64_t j = 0; j < cols; ++j) { yi[j] = std::exp(xi[j] - m); s += yi[j]; }
    T inv = T(1) / s;
    for (int64_t j = 0; j < cols; ++j) yi[j] *= inv;
  }
}

}  // namespace

template <typename T>
void activation_inplace_span(T* v, int64_t n, Activation a) {
  switch (a) {
    case Activation::Linear: return;
    case Activation::ReLU:
      for (int64_t i = 0; i < n; ++i) v[i] = v[i] > T(0) ? v[i] : T(0);
      return;
    case Activation::LeakyReLU:
      for (int64_t i = 0; i < n; ++i) v[i] = v[i] > T(0) ? v[i] : T(kLeakyReluSlope) * v[i];
      return;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) v[i] = sigmoid(v[i]);
      return;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
      return;
    case Activation::GELU:
      for (int64_t i = 0; i < n; ++i) v[i] = T(0.5) * v[i] * (T(1) + std::erf(v[i] * T(M_SQRT1_2)));
      return;
    case Activation::Softmax:
      throw ValueError("softmax is a row-wise activation, not elementwise");
  }
}

template <typename T>
void activation_forward(Matrix<T> y, Matrix<const T> x, Activation a) {
  if (a == Activation::Softmax) return softmax_rows(y, x);
  const int64_t n = x.size();
  if (y.data != x.data) std::copy(x.data, x.data + n, y.data);
  if (a == Activation::Linear) return;
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
    activation_inplace_span(y.data + lo, len, a);
  }
}

template <typename T>
void activation_backward(Matrix<T> dx, Matrix<const T> dy, Matrix<const T> x, Matrix<const T> y,
                         Activation a) {
  const int64_t n = dy.size();
  T* g = dx.data;
  const T* d = dy.data;
  const T* o = y.data;
  switch (a) {
    case Activation::Linear:
      if (g != d) std::copy(d, d + n, g);
      return;
    case Activation::ReLU:
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) g[i] = o[i] > T(0) ? d[i] : T(0);
      return;
    case Activation::LeakyReLU:
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) g[i] = o[i] > T(0) ? d[i] : T(kLeakyReluSlope) * d[i];
      return;
    case Activation::Sigmoid:
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) g[i] = d[i] * o[i] * (T(1) - o[i]);
      return;
    case Activation::Tanh:
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) g[i] = d[i] * (T(1) - o[i] * o[i]);
      return;
    case Activation::GELU: {
      if (!x.data) throw ValueError("GELU backward needs the pre-activation input");
      const T* in = x.data;
      const T inv_sqrt_2pi = T(0.3989422804014327);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) {
        T v = in[i];
        T cdf = T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2)));
        T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * v * v);
        g[i] = d[i] * (cdf + v * pdf);
      }
      return;
    }
    case Activation::Softmax: {
      const int64_t rows = dy.rows, cols = dy.cols;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t r = 0; r < rows; ++r) {
        const T* yr = y.row(r);
        const T* dr = dy.row(r);
        T* gr = dx.row(r);
        T dot = 0;
        for (int64_t j = 0; j < cols; ++j) dot += dr[j] * yr[j];
        for (int64_t j = 0; j < cols; ++j) gr[j] = yr[j] * (dr[j] - dot);
      }
      return;
    }
  }
}

#define PYDL_INSTANTIATE(T)                                                                  \
  template void activation_forward<T>(Matrix<T>, Matrix<const T>, Activation);               \
  template void activation_backward<T>(Matrix<T>, Matrix<const T>, Matrix<const T>,          \
                                       Matrix<const T>, Activation);                         \
  template void activation_inplace_span<T>(T*, int64_t, Activation);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
