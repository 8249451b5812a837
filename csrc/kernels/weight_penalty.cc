#include "kernels/weight_penalty.h"

#include <cmath>

#include "core/device.h"
#include "core/parallel.h"

namespace pydl {

template <typename T>
void add_weight_penalty(double* total, const T* w, int64_t n, double l1, double l2) {
  PYDL_DEVICE_DISPATCH(add_weight_penalty, total, w, n, l1, l2);
  double a = 0, b = 0;
  for (int64_t i = 0; i < n; ++i) {
    a += std::fabs(double(w[i]));
    b += double(w[i]) * double(w[i]);
  }
  *total += l1 * a + l2 * b;
}

template <typename T>
void add_weight_penalty_gradient(T* g, const T* w, int64_t n, double l1, double l2) {
  PYDL_DEVICE_DISPATCH(add_weight_penalty_gradient, g, w, n, l1, l2);
  const T a = T(l1), b = T(2.0 * l2);
  parallel_range(n, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) g[i] += b * w[i] + (w[i] > 0 ? a : w[i] < 0 ? -a : T(0));
  });
}

#define PYDL_INSTANTIATE(T)                                                             \
  template void add_weight_penalty<T>(double*, const T*, int64_t, double, double);      \
  template void add_weight_penalty_gradient<T>(T*, const T*, int64_t, double, double);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
