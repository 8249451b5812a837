#include "kernels/activation.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "kernels/activation_formulas.h"

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

constexpr int64_t kGrain = 1 << 14;  // elements per chunk: below this, threads cost more than they save

template <typename T>
void softmax_rows(Matrix<T> y, Matrix<const T> x) {
  const int64_t cols = x.cols;
  if (cols == 0) return;  // rows of no values (a layer of 0 units): nothing to normalise, no xi[0]
  parallel_range(x.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T* xi = x.row(i);
      T* yi = y.row(i);
      T m = xi[0];
      for (int64_t j = 1; j < cols; ++j) m = std::max(m, xi[j]);
      T s = 0;
      for (int64_t j = 0; j < cols; ++j) { yi[j] = std::exp(xi[j] - m); s += yi[j]; }
      T inv = T(1) / s;
      for (int64_t j = 0; j < cols; ++j) yi[j] *= inv;
    }
  });
}

}  // namespace

template <typename T>
void activation_inplace_span(T* v, int64_t n, Activation a) {
  switch (a) {
    case Activation::Linear: return;
    case Activation::ReLU:
      for (int64_t i = 0; i < n; ++i) v[i] = act::relu(v[i]);
      return;
    case Activation::LeakyReLU:
      for (int64_t i = 0; i < n; ++i) v[i] = act::leaky_relu(v[i]);
      return;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) v[i] = act::sigmoid(v[i]);
      return;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) v[i] = act::tanh(v[i]);
      return;
    case Activation::GELU:
      for (int64_t i = 0; i < n; ++i) v[i] = act::gelu(v[i]);
      return;
    case Activation::Softmax:
      throw ValueError("softmax is a row-wise activation, not elementwise");
  }
}

template <typename T>
void activation_forward(Matrix<T> y, Matrix<const T> x, Activation a) {
  PYDL_DEVICE_DISPATCH(activation_forward, y, x, a);
  if (a == Activation::Softmax) return softmax_rows(y, x);
  const int64_t n = x.size();
  if (y.data != x.data) std::copy(x.data, x.data + n, y.data);
  if (a == Activation::Linear) return;
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) { activation_inplace_span(y.data + lo, hi - lo, a); });
}

template <typename T>
void activation_backward(Matrix<T> dx, Matrix<const T> dy, Matrix<const T> x, Matrix<const T> y,
                         Activation a) {
  PYDL_DEVICE_DISPATCH(activation_backward, dx, dy, x, y, a);
  const int64_t n = dy.size();
  T* g = dx.data;
  const T* d = dy.data;
  const T* o = y.data;
  switch (a) {
    case Activation::Linear:
      if (g != d) std::copy(d, d + n, g);
      return;
    // Loads happen unconditionally so the compiler emits a select, not a branch that
    // mispredicts on half the elements.
    case Activation::ReLU:
      parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          g[i] = act::relu_backward(d[i], o[i]);
        }
      });
      return;
    case Activation::LeakyReLU:
      parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          g[i] = act::leaky_relu_backward(d[i], o[i]);
        }
      });
      return;
    case Activation::Sigmoid:
      parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) g[i] = act::sigmoid_backward(d[i], o[i]);
      });
      return;
    case Activation::Tanh:
      parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) g[i] = act::tanh_backward(d[i], o[i]);
      });
      return;
    case Activation::GELU: {
      if (!x.data) throw ValueError("GELU backward needs the pre-activation input");
      const T* in = x.data;
      parallel_range(n, kGrain / 8, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) g[i] = act::gelu_backward(d[i], in[i]);
      });
      return;
    }
    case Activation::Softmax: {
      const int64_t cols = dy.cols;
      parallel_range(dy.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)), [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          const T* yr = y.row(r);
          const T* dr = dy.row(r);
          T* gr = dx.row(r);
          T dot = 0;
          for (int64_t j = 0; j < cols; ++j) dot += dr[j] * yr[j];
          for (int64_t j = 0; j < cols; ++j) gr[j] = yr[j] * (dr[j] - dot);
        }
      });
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
