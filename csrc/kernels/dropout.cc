#include "kernels/dropout.h"

#include "core/device.h"
#include "core/parallel.h"

namespace pydl {

template <typename T>
void dropout_forward(Matrix<T> y, uint8_t* mask, Matrix<const T> x, double rate,
                     const CounterRng& rng, StepClock clock, uint64_t offset) {
  PYDL_DEVICE_DISPATCH(dropout_forward, y, mask, x, rate, rng, clock, offset);
  const uint64_t counter = (clock.now() << 32) + offset;
  const int64_t n = x.size();
  const T scale = rate < 1.0 ? T(1.0 / (1.0 - rate)) : T(0);
  const float threshold = static_cast<float>(rate);
  parallel_range(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const uint8_t keep = rng.uniform(counter + uint64_t(i)) >= threshold;
      mask[i] = keep;
      y.data[i] = x.data[i] * (keep ? scale : T(0));
    }
  });
}

template <typename T>
void dropout_backward(Matrix<T> dx, Matrix<const T> dy, const uint8_t* mask, double rate) {
  PYDL_DEVICE_DISPATCH(dropout_backward, dx, dy, mask, rate);
  const int64_t n = dy.size();
  const T scale = rate < 1.0 ? T(1.0 / (1.0 - rate)) : T(0);
  parallel_range(n, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dx.data[i] = dy.data[i] * (mask[i] ? scale : T(0));
  });
}

template void dropout_forward<float>(Matrix<float>, uint8_t*, Matrix<const float>, double,
                                     const CounterRng&, StepClock, uint64_t);
template void dropout_forward<double>(Matrix<double>, uint8_t*, Matrix<const double>, double,
                                      const CounterRng&, StepClock, uint64_t);
template void dropout_backward<float>(Matrix<float>, Matrix<const float>, const uint8_t*, double);
template void dropout_backward<double>(Matrix<double>, Matrix<const double>, const uint8_t*,
                                       double);

}  // namespace pydl
