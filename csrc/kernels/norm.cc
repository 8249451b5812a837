#include "kernels/norm.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/parallel.h"
#include "kernels/reduce.h"
#include "kernels/step_results.h"

namespace pydl {

int64_t batchnorm_workspace(int64_t rows, int64_t channels) {
  return column_sums_workspace(rows, channels, 2) + 2 * channels;  // partials, then the sums
}

template <typename T>
void batchnorm_sum(double* sum, const T* x, int64_t rows, int64_t c, double* ws) {
  PYDL_DEVICE_DISPATCH(batchnorm_sum, sum, x, rows, c, ws);
  column_sums<1>(sum, rows, c, ws, [&](int64_t r, double* part) {
    const T* xr = x + r * c;
    for (int64_t j = 0; j < c; ++j) part[j] += double(xr[j]);
  });
}

template <typename T>
void batchnorm_centered_squares(double* sq, const T* x, const double* mean, int64_t rows, int64_t c, double* ws) {
  PYDL_DEVICE_DISPATCH(batchnorm_centered_squares, sq, x, mean, rows, c, ws);
  column_sums<1>(sq, rows, c, ws, [&](int64_t r, double* part) {  // about the mean: no cancellation
    const T* xr = x + r * c;
    for (int64_t j = 0; j < c; ++j) {
      const double d = double(xr[j]) - mean[j];
      part[j] += d * d;
    }
  });
}

template <typename T>
void batchnorm_statistics(double* invstd, T* moving_mean, T* moving_var, const double* mean, const double* sq,
                          int64_t rows, int64_t c, double momentum, double eps, const double* step_results) {
  PYDL_DEVICE_DISPATCH(batchnorm_statistics,
                       invstd, moving_mean, moving_var, mean, sq, rows, c, momentum, eps, step_results);
  const bool update = !step_results || ::pydl::step_results::running(step_results);
  for (int64_t j = 0; j < c; ++j) {
    const double var = sq[j] / double(rows);
    invstd[j] = 1.0 / std::sqrt(var + eps);
    if (!update) continue;
    const double unbiased = rows > 1 ? var * double(rows) / double(rows - 1) : var;
    moving_mean[j] = T(momentum * double(moving_mean[j]) + (1.0 - momentum) * mean[j]);
    moving_var[j] = T(momentum * double(moving_var[j]) + (1.0 - momentum) * unbiased);
  }
}

template <typename T>
void batchnorm_normalize(T* y, const T* x, const T* gamma, const T* beta, const double* mean, const double* invstd,
                         int64_t rows, int64_t c) {
  PYDL_DEVICE_DISPATCH(batchnorm_normalize, y, x, gamma, beta, mean, invstd, rows, c);
  parallel_range(rows, std::max<int64_t>(1, 8192 / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < c; ++j)
        y[r * c + j] = T(double(gamma[j]) * (double(x[r * c + j]) - mean[j]) * invstd[j] + double(beta[j]));
  });
}

template <typename T>
void batchnorm_forward_train(T* y, double* mean, double* invstd, T* moving_mean, T* moving_var,
                             const T* x, const T* gamma, const T* beta, int64_t rows, int64_t c,
                             double momentum, double eps, double* ws, const double* step_results) {
  PYDL_DEVICE_DISPATCH(batchnorm_forward_train,
                       y, mean, invstd, moving_mean, moving_var, x, gamma, beta, rows, c, momentum, eps, ws,
                       step_results);
  double* sums = ws + column_sums_workspace(rows, c, 2);  // after the partials
  batchnorm_sum(sums, x, rows, c, ws);
  for (int64_t j = 0; j < c; ++j) mean[j] = sums[j] / double(rows);
  batchnorm_centered_squares(sums, x, mean, rows, c, ws);
  batchnorm_statistics(invstd, moving_mean, moving_var, mean, sums, rows, c, momentum, eps, step_results);
  batchnorm_normalize(y, x, gamma, beta, mean, invstd, rows, c);
}

template <typename T>
void batchnorm_forward_infer(T* y, const T* x, const T* gamma, const T* beta, const T* mm,
                             const T* mv, int64_t rows, int64_t c, double eps) {
  PYDL_DEVICE_DISPATCH(batchnorm_forward_infer, y, x, gamma, beta, mm, mv, rows, c, eps);
  parallel_range(rows, std::max<int64_t>(1, 8192 / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < c; ++j) {
        const T scale = T(double(gamma[j]) / std::sqrt(double(mv[j]) + eps));
        y[r * c + j] = (x[r * c + j] - mm[j]) * scale + beta[j];
      }
  });
}

template <typename T>
void batchnorm_grad_sums(double* sums, const T* dy, const T* x, const double* mean, const double* invstd,
                         int64_t rows, int64_t c, double* ws) {
  PYDL_DEVICE_DISPATCH(batchnorm_grad_sums, sums, dy, x, mean, invstd, rows, c, ws);
  column_sums<2>(sums, rows, c, ws, [&](int64_t r, double* part) {  // [sum dy | sum dy * xhat]
    for (int64_t j = 0; j < c; ++j) {
      const double g = double(dy[r * c + j]);
      part[j] += g;
      part[c + j] += g * (double(x[r * c + j]) - mean[j]) * invstd[j];
    }
  });
}

template <typename T>
void batchnorm_param_grads(T* dgamma, T* dbeta, const double* sums, int64_t c) {
  PYDL_DEVICE_DISPATCH(batchnorm_param_grads, dgamma, dbeta, sums, c);
  for (int64_t j = 0; j < c; ++j) {
    dbeta[j] += T(sums[j]);
    dgamma[j] += T(sums[c + j]);
  }
}

template <typename T>
void batchnorm_input_grad(T* dx, const T* dy, const T* x, const T* gamma, const double* mean, const double* invstd,
                          const double* sums, int64_t rows, int64_t c, int64_t total_rows) {
  PYDL_DEVICE_DISPATCH(batchnorm_input_grad, dx, dy, x, gamma, mean, invstd, sums, rows, c, total_rows);
  const double inv_rows = 1.0 / double(total_rows);
  parallel_range(rows, std::max<int64_t>(1, 8192 / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < c; ++j) {
        const double xhat = (double(x[r * c + j]) - mean[j]) * invstd[j];
        dx[r * c + j] = T(double(gamma[j]) * invstd[j] *
                          (double(dy[r * c + j]) - sums[j] * inv_rows - xhat * sums[c + j] * inv_rows));
      }
  });
}

template <typename T>
void batchnorm_backward_train(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                              const double* mean, const double* invstd, int64_t rows, int64_t c,
                              double* ws) {
  PYDL_DEVICE_DISPATCH(batchnorm_backward_train, dx, dgamma, dbeta, dy, x, gamma, mean, invstd, rows, c, ws);
  double* sums = ws + column_sums_workspace(rows, c, 2);
  batchnorm_grad_sums(sums, dy, x, mean, invstd, rows, c, ws);
  batchnorm_param_grads(dgamma, dbeta, sums, c);
  if (dx) batchnorm_input_grad(dx, dy, x, gamma, mean, invstd, sums, rows, c, rows);
}

template <typename T>
void batchnorm_backward_infer(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                              const T* mm, const T* mv, int64_t rows, int64_t c, double eps, double* ws) {
  PYDL_DEVICE_DISPATCH(batchnorm_backward_infer, dx, dgamma, dbeta, dy, x, gamma, mm, mv, rows, c, eps, ws);
  double* sums = ws + column_sums_workspace(rows, c, 2);
  column_sums<2>(sums, rows, c, ws, [&](int64_t r, double* part) {
    for (int64_t j = 0; j < c; ++j) {
      const double g = double(dy[r * c + j]);
      part[j] += g;
      part[c + j] += g * (double(x[r * c + j]) - double(mm[j])) / std::sqrt(double(mv[j]) + eps);
    }
  });
  for (int64_t j = 0; j < c; ++j) {
    dbeta[j] += T(sums[j]);
    dgamma[j] += T(sums[c + j]);
  }
  if (!dx) return;
  parallel_range(rows, std::max<int64_t>(1, 8192 / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < c; ++j)
        dx[r * c + j] = T(double(dy[r * c + j]) * double(gamma[j]) / std::sqrt(double(mv[j]) + eps));
  });
}

template <typename T>
void layernorm_forward(T* y, double* mean, double* invstd, const T* x, const T* gamma, const T* beta,
                       int64_t rows, int64_t c, double eps) {
  PYDL_DEVICE_DISPATCH(layernorm_forward, y, mean, invstd, x, gamma, beta, rows, c, eps);
  parallel_range(rows, std::max<int64_t>(1, 8192 / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * c;
      const double m = lane_sum<8, double>(c, [&](int64_t j) { return double(xr[j]); }) / double(c);
      const double v = lane_sum<8, double>(c, [&](int64_t j) { return (double(xr[j]) - m) * (double(xr[j]) - m); });
      const double is = 1.0 / std::sqrt(v / double(c) + eps);
      mean[r] = m;
      invstd[r] = is;
      for (int64_t j = 0; j < c; ++j) y[r * c + j] = T((double(xr[j]) - m) * is * double(gamma[j]) + double(beta[j]));
    }
  });
}

template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                        const double* mean, const double* invstd, int64_t rows, int64_t c) {
  PYDL_DEVICE_DISPATCH(layernorm_backward, dx, dgamma, dbeta, dy, x, gamma, mean, invstd, rows, c);
  // Parameter gradients: split over channels (outputs), rows summed in order.
  parallel_range(c, rows * c >= (1 << 15) ? 64 : c, [&](int64_t j0, int64_t j1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = j0; j < j1; ++j) {
        const double xhat = (double(x[r * c + j]) - mean[r]) * invstd[r];
        dgamma[j] += T(double(dy[r * c + j]) * xhat);
        dbeta[j] += dy[r * c + j];
      }
  });
  if (!dx) return;
  parallel_range(rows, std::max<int64_t>(1, 8192 / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const double sg = lane_sum<8, double>(c, [&](int64_t j) { return double(dy[r * c + j]) * double(gamma[j]); });
      const double sgx = lane_sum<8, double>(c, [&](int64_t j) {
        return double(dy[r * c + j]) * double(gamma[j]) * (double(x[r * c + j]) - mean[r]) * invstd[r];
      });
      for (int64_t j = 0; j < c; ++j) {
        const double g = double(dy[r * c + j]) * double(gamma[j]);
        const double xhat = (double(x[r * c + j]) - mean[r]) * invstd[r];
        dx[r * c + j] = T(invstd[r] * (g - sg / double(c) - xhat * sgx / double(c)));
      }
    }
  });
}

namespace {
template <typename T>
T normalization_scale(T var) {
  return var > T(0) ? T(1) / std::sqrt(var) : T(1);
}
}  // namespace

template <typename T>
void normalization_forward(T* y, const T* x, const T* mean, const T* var, int64_t n, int64_t period) {
  PYDL_DEVICE_DISPATCH(normalization_forward, y, x, mean, var, n, period);
  parallel_range(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = (x[i] - mean[i % period]) * normalization_scale(var[i % period]);
  });
}

template <typename T>
void normalization_backward(T* dx, const T* dy, const T* var, int64_t n, int64_t period) {
  PYDL_DEVICE_DISPATCH(normalization_backward, dx, dy, var, n, period);
  parallel_range(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * normalization_scale(var[i % period]);
  });
}

#define PYDL_INSTANTIATE(T)                                                                          \
  template void batchnorm_sum<T>(double*, const T*, int64_t, int64_t, double*);                      \
  template void batchnorm_centered_squares<T>(double*, const T*, const double*, int64_t, int64_t, double*); \
  template void batchnorm_statistics<T>(double*, T*, T*, const double*, const double*, int64_t, int64_t, \
                                        double, double, const double*);                              \
  template void batchnorm_normalize<T>(T*, const T*, const T*, const T*, const double*, const double*, \
                                       int64_t, int64_t);                                            \
  template void batchnorm_grad_sums<T>(double*, const T*, const T*, const double*, const double*,     \
                                       int64_t, int64_t, double*);                                   \
  template void batchnorm_param_grads<T>(T*, T*, const double*, int64_t);                             \
  template void batchnorm_input_grad<T>(T*, const T*, const T*, const T*, const double*, const double*, \
                                        const double*, int64_t, int64_t, int64_t);                   \
  template void batchnorm_forward_train<T>(T*, double*, double*, T*, T*, const T*, const T*, const T*, \
                                           int64_t, int64_t, double, double, double*, const double*); \
  template void batchnorm_forward_infer<T>(T*, const T*, const T*, const T*, const T*, const T*,      \
                                           int64_t, int64_t, double);                                \
  template void batchnorm_backward_train<T>(T*, T*, T*, const T*, const T*, const T*, const double*,  \
                                            const double*, int64_t, int64_t, double*);               \
  template void batchnorm_backward_infer<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                            const T*, int64_t, int64_t, double, double*);            \
  template void layernorm_forward<T>(T*, double*, double*, const T*, const T*, const T*, int64_t,     \
                                     int64_t, double);                                               \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const double*,        \
                                      const double*, int64_t, int64_t);                              \
  template void normalization_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t);          \
  template void normalization_backward<T>(T*, const T*, const T*, int64_t, int64_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
