#include "kernels/sequence_pool.h"

#include <algorithm>

#include "core/device.h"
#include "core/parallel.h"

namespace pydl {
namespace {

int64_t grain(int64_t t, int64_t c) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(t * c, 1)); }

bool valid(const uint8_t* mask, int64_t i, int64_t t, int64_t s) { return !mask || mask[i * t + s]; }

}  // namespace

template <typename T>
void masked_avg_pool1d_forward(T* y, const T* x, const uint8_t* mask, int64_t n, int64_t t, int64_t c) {
  PYDL_DEVICE_DISPATCH(masked_avg_pool1d_forward, y, x, mask, n, t, c);
  parallel_range(n, grain(t, c), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T* yi = y + i * c;
      std::fill(yi, yi + c, T(0));
      int64_t count = 0;
      for (int64_t s = 0; s < t; ++s) {
        if (!valid(mask, i, t, s)) continue;
        const T* xs = x + (i * t + s) * c;
        for (int64_t ch = 0; ch < c; ++ch) yi[ch] += xs[ch];
        ++count;
      }
      if (count > 0) {
        const T inv = T(1) / T(count);
        for (int64_t ch = 0; ch < c; ++ch) yi[ch] *= inv;
      }
    }
  });
}

template <typename T>
void masked_avg_pool1d_backward(T* dx, const T* dy, const uint8_t* mask, int64_t n, int64_t t, int64_t c) {
  PYDL_DEVICE_DISPATCH(masked_avg_pool1d_backward, dx, dy, mask, n, t, c);
  parallel_range(n, grain(t, c), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      int64_t count = 0;
      for (int64_t s = 0; s < t; ++s) count += valid(mask, i, t, s);
      const T inv = count > 0 ? T(1) / T(count) : T(0);
      const T* dyi = dy + i * c;
      for (int64_t s = 0; s < t; ++s) {
        T* d = dx + (i * t + s) * c;
        const T w = valid(mask, i, t, s) ? inv : T(0);
        for (int64_t ch = 0; ch < c; ++ch) d[ch] = w * dyi[ch];
      }
    }
  });
}

template <typename T>
void masked_max_pool1d_forward(T* y, int32_t* argmax, const T* x, const uint8_t* mask, int64_t n, int64_t t,
                               int64_t c) {
  PYDL_DEVICE_DISPATCH(masked_max_pool1d_forward, y, argmax, x, mask, n, t, c);
  parallel_range(n, grain(t, c), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T* yi = y + i * c;
      int32_t* ai = argmax + i * c;
      std::fill(yi, yi + c, T(0));
      std::fill(ai, ai + c, int32_t(-1));
      for (int64_t s = 0; s < t; ++s) {
        if (!valid(mask, i, t, s)) continue;
        const T* xs = x + (i * t + s) * c;
        for (int64_t ch = 0; ch < c; ++ch)
          if (ai[ch] < 0 || xs[ch] > yi[ch]) {  // the first maximum wins
            yi[ch] = xs[ch];
            ai[ch] = int32_t(s);
          }
      }
    }
  });
}

template <typename T>
void masked_max_pool1d_backward(T* dx, const T* dy, const int32_t* argmax, int64_t n, int64_t t, int64_t c) {
  PYDL_DEVICE_DISPATCH(masked_max_pool1d_backward, dx, dy, argmax, n, t, c);
  parallel_range(n, grain(t, c), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      std::fill(dx + i * t * c, dx + (i + 1) * t * c, T(0));
      for (int64_t ch = 0; ch < c; ++ch) {
        const int32_t s = argmax[i * c + ch];
        if (s >= 0) dx[(i * t + s) * c + ch] = dy[i * c + ch];
      }
    }
  });
}

#define PYDL_SEQUENCE_POOL(T)                                                                                  \
  template void masked_avg_pool1d_forward<T>(T*, const T*, const uint8_t*, int64_t, int64_t, int64_t);      \
  template void masked_avg_pool1d_backward<T>(T*, const T*, const uint8_t*, int64_t, int64_t, int64_t);     \
  template void masked_max_pool1d_forward<T>(T*, int32_t*, const T*, const uint8_t*, int64_t, int64_t,      \
                                             int64_t);                                                      \
  template void masked_max_pool1d_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t, int64_t);
PYDL_SEQUENCE_POOL(float)
PYDL_SEQUENCE_POOL(double)
#undef PYDL_SEQUENCE_POOL

}  // namespace pydl
