#include "kernels/pool.h"

#include <algorithm>
#include <limits>

#include "core/device.h"
#include "core/parallel.h"
#include "core/simd.h"

namespace pydl {
namespace {

// Calls f(iy, ix) for the in-bounds input pixels of output pixel (oy, ox)'s window.
template <typename F>
inline void for_window(const Conv2dArgs& a, int64_t oy, int64_t ox, F&& f) {
  const int64_t y0 = oy * a.sh - a.pad_top, x0 = ox * a.sw - a.pad_left;
  for (int64_t iy = std::max<int64_t>(y0, 0); iy < std::min(y0 + a.kh, a.h); ++iy)
    for (int64_t ix = std::max<int64_t>(x0, 0); ix < std::min(x0 + a.kw, a.w); ++ix) f(iy, ix);
}

// Selects, not branches, over non-aliasing rows: vectorises over channels. The first
// maximum wins (strict >). kArg: record where it came from.
template <bool kArg, typename T>
PYDL_ALWAYS_INLINE void max_update(T* __restrict out, int32_t* __restrict arg, const T* __restrict px,
                                   int64_t c, int32_t off) {
  for (int64_t ch = 0; ch < c; ++ch) {
    const T v = px[ch];
    const bool better = v > out[ch];
    out[ch] = better ? v : out[ch];
    if constexpr (kArg) arg[ch] = better ? off + int32_t(ch) : arg[ch];
  }
}

template <bool kArg, typename T>
PYDL_ALWAYS_INLINE void max_pool_rows_impl(T* y, int32_t* argmax, const T* x, const Conv2dArgs& a,
                                           int64_t r0, int64_t r1) {
  const int64_t in_img = a.h * a.w * a.c, out_img = a.oh * a.ow * a.c;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / a.oh, oy = r % a.oh;
    const T* img = x + n * in_img;
    for (int64_t ox = 0; ox < a.ow; ++ox) {
      T* out = y + n * out_img + (oy * a.ow + ox) * a.c;
      int32_t* arg = kArg ? argmax + n * out_img + (oy * a.ow + ox) * a.c : nullptr;
      bool first = true;  // windows always hold at least one input pixel
      for_window(a, oy, ox, [&](int64_t iy, int64_t ix) {
        const int64_t off = (iy * a.w + ix) * a.c;
        if (first) {
          for (int64_t ch = 0; ch < a.c; ++ch) out[ch] = img[off + ch];
          if constexpr (kArg)
            for (int64_t ch = 0; ch < a.c; ++ch) arg[ch] = int32_t(off + ch);
          first = false;
        } else {
          max_update<kArg>(out, arg, img + off, a.c, int32_t(off));
        }
      });
    }
  }
}

PYDL_SIMD_CLONES void max_pool_rows(float* y, int32_t* argmax, const float* x, const Conv2dArgs& a,
                                    int64_t r0, int64_t r1) {
  if (argmax) max_pool_rows_impl<true>(y, argmax, x, a, r0, r1);
  else max_pool_rows_impl<false>(y, argmax, x, a, r0, r1);
}
PYDL_SIMD_CLONES void max_pool_rows(double* y, int32_t* argmax, const double* x, const Conv2dArgs& a,
                                    int64_t r0, int64_t r1) {
  if (argmax) max_pool_rows_impl<true>(y, argmax, x, a, r0, r1);
  else max_pool_rows_impl<false>(y, argmax, x, a, r0, r1);
}

}  // namespace

template <typename T>
void max_pool2d_forward(T* y, int32_t* argmax, const T* x, const Conv2dArgs& a) {
  PYDL_DEVICE_DISPATCH(max_pool2d_forward, y, argmax, x, a);
  parallel_range(a.n * a.oh, std::max<int64_t>(1, 4096 / std::max<int64_t>(a.ow * a.c, 1)),
                 [&](int64_t r0, int64_t r1) { max_pool_rows(y, argmax, x, a, r0, r1); });
}

template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int32_t* argmax, const Conv2dArgs& a) {
  PYDL_DEVICE_DISPATCH(max_pool2d_backward, dx, dy, argmax, a);
  const int64_t in_img = a.h * a.w * a.c, out_img = a.oh * a.ow * a.c;
  parallel_range(a.n, 1, [&](int64_t n0, int64_t n1) {  // one image per task: fixed sum order
    for (int64_t n = n0; n < n1; ++n) {
      T* d = dx + n * in_img;
      std::fill(d, d + in_img, T(0));
      for (int64_t i = 0; i < out_img; ++i) d[argmax[n * out_img + i]] += dy[n * out_img + i];
    }
  });
}

template <typename T>
void avg_pool2d_forward(T* y, const T* x, const Conv2dArgs& a) {
  PYDL_DEVICE_DISPATCH(avg_pool2d_forward, y, x, a);
  const int64_t in_img = a.h * a.w * a.c, out_img = a.oh * a.ow * a.c;
  parallel_range(a.n * a.oh, std::max<int64_t>(1, 4096 / std::max<int64_t>(a.ow * a.c, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / a.oh, oy = r % a.oh;
      const T* img = x + n * in_img;
      for (int64_t ox = 0; ox < a.ow; ++ox) {
        T* out = y + n * out_img + (oy * a.ow + ox) * a.c;
        std::fill(out, out + a.c, T(0));
        int64_t count = 0;
        for_window(a, oy, ox, [&](int64_t iy, int64_t ix) {
          const T* px = img + (iy * a.w + ix) * a.c;
          for (int64_t ch = 0; ch < a.c; ++ch) out[ch] += px[ch];
          ++count;
        });
        const T inv = T(1) / T(count);  // padding excluded from the average
        for (int64_t ch = 0; ch < a.c; ++ch) out[ch] *= inv;
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, const Conv2dArgs& a) {
  PYDL_DEVICE_DISPATCH(avg_pool2d_backward, dx, dy, a);
  const int64_t in_img = a.h * a.w * a.c, out_img = a.oh * a.ow * a.c;
  parallel_range(a.n, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* img = dx + n * in_img;
      std::fill(img, img + in_img, T(0));
      for (int64_t oy = 0; oy < a.oh; ++oy)
        for (int64_t ox = 0; ox < a.ow; ++ox) {
          int64_t count = 0;
          for_window(a, oy, ox, [&](int64_t, int64_t) { ++count; });
          const T* g = dy + n * out_img + (oy * a.ow + ox) * a.c;
          const T inv = T(1) / T(count);
          for_window(a, oy, ox, [&](int64_t iy, int64_t ix) {
            T* px = img + (iy * a.w + ix) * a.c;
            for (int64_t ch = 0; ch < a.c; ++ch) px[ch] += g[ch] * inv;
          });
        }
    }
  });
}

template <typename T>
void global_avg_pool_forward(T* y, const T* x, int64_t n, int64_t p, int64_t c) {
  PYDL_DEVICE_DISPATCH(global_avg_pool_forward, y, x, n, p, c);
  parallel_range(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(p * c, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0; i < n1; ++i) {
      T* out = y + i * c;
      std::fill(out, out + c, T(0));
      for (int64_t q = 0; q < p; ++q)
        for (int64_t ch = 0; ch < c; ++ch) out[ch] += x[(i * p + q) * c + ch];
      for (int64_t ch = 0; ch < c; ++ch) out[ch] /= T(p);
    }
  });
}

template <typename T>
void global_avg_pool_backward(T* dx, const T* dy, int64_t n, int64_t p, int64_t c) {
  PYDL_DEVICE_DISPATCH(global_avg_pool_backward, dx, dy, n, p, c);
  parallel_range(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(p * c, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0; i < n1; ++i)
      for (int64_t q = 0; q < p; ++q)
        for (int64_t ch = 0; ch < c; ++ch) dx[(i * p + q) * c + ch] = dy[i * c + ch] / T(p);
  });
}

template <typename T>
void global_max_pool_forward(T* y, int32_t* argmax, const T* x, int64_t n, int64_t p, int64_t c) {
  PYDL_DEVICE_DISPATCH(global_max_pool_forward, y, argmax, x, n, p, c);
  parallel_range(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(p * c, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0; i < n1; ++i)
      for (int64_t ch = 0; ch < c; ++ch) {
        int64_t best = 0;
        for (int64_t q = 1; q < p; ++q)
          if (x[(i * p + q) * c + ch] > x[(i * p + best) * c + ch]) best = q;
        y[i * c + ch] = x[(i * p + best) * c + ch];
        argmax[i * c + ch] = int32_t(best);
      }
  });
}

template <typename T>
void global_max_pool_backward(T* dx, const T* dy, const int32_t* argmax, int64_t n, int64_t p, int64_t c) {
  PYDL_DEVICE_DISPATCH(global_max_pool_backward, dx, dy, argmax, n, p, c);
  parallel_range(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(p * c, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0; i < n1; ++i) {
      std::fill(dx + i * p * c, dx + (i + 1) * p * c, T(0));
      for (int64_t ch = 0; ch < c; ++ch) dx[(i * p + argmax[i * c + ch]) * c + ch] = dy[i * c + ch];
    }
  });
}

#define PYDL_INSTANTIATE(T)                                                                       \
  template void max_pool2d_forward<T>(T*, int32_t*, const T*, const Conv2dArgs&);                 \
  template void max_pool2d_backward<T>(T*, const T*, const int32_t*, const Conv2dArgs&);          \
  template void avg_pool2d_forward<T>(T*, const T*, const Conv2dArgs&);                           \
  template void avg_pool2d_backward<T>(T*, const T*, const Conv2dArgs&);                          \
  template void global_avg_pool_forward<T>(T*, const T*, int64_t, int64_t, int64_t);              \
  template void global_avg_pool_backward<T>(T*, const T*, int64_t, int64_t, int64_t);             \
  template void global_max_pool_forward<T>(T*, int32_t*, const T*, int64_t, int64_t, int64_t);   \
  template void global_max_pool_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t, int64_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
