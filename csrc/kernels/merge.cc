#include "kernels/merge.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"

namespace pydl {
namespace {
constexpr int64_t kGrain = 1 << 14;
}

template <typename T>
void merge_forward(MergeOp op, T* y, const T* const* xs, int k, int64_t n) {
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t e = lo; e < hi; ++e) {
      T v = xs[0][e];
      for (int i = 1; i < k; ++i) {
        const T x = xs[i][e];
        switch (op) {
          case MergeOp::Add:
          case MergeOp::Average: v += x; break;
          case MergeOp::Subtract: v -= x; break;
          case MergeOp::Multiply: v *= x; break;
          case MergeOp::Maximum: v = x > v ? x : v; break;
          case MergeOp::Minimum: v = x < v ? x : v; break;
        }
      }
      y[e] = op == MergeOp::Average ? v / T(k) : v;
    }
  });
}

template <typename T>
void merge_backward(MergeOp op, T* const* dxs, const T* dy, const T* const* xs, int k, int64_t n) {
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t e = lo; e < hi; ++e) {
      const T g = dy[e];
      if (op == MergeOp::Maximum || op == MergeOp::Minimum) {
        int best = 0;  // the first input holding the extreme, as forward picked it
        for (int i = 1; i < k; ++i)
          if (op == MergeOp::Maximum ? xs[i][e] > xs[best][e] : xs[i][e] < xs[best][e]) best = i;
        for (int i = 0; i < k; ++i)
          if (dxs[i]) dxs[i][e] = i == best ? g : T(0);
        continue;
      }
      for (int i = 0; i < k; ++i) {
        if (!dxs[i]) continue;
        T d = g;
        if (op == MergeOp::Subtract && i == 1) d = -g;
        if (op == MergeOp::Average) d = g / T(k);
        if (op == MergeOp::Multiply)
          for (int j = 0; j < k; ++j)
            if (j != i) d *= xs[j][e];
        dxs[i][e] = d;
      }
    }
  });
}

template <typename T>
void concat_forward(T* y, const T* const* xs, const int64_t* widths, int k, int64_t outer, int64_t inner) {
  int64_t total = 0;
  for (int i = 0; i < k; ++i) total += widths[i];
  parallel_range(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(total * inner, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      T* dst = y + o * total * inner;
      for (int i = 0; i < k; ++i) {
        const int64_t len = widths[i] * inner;
        std::memcpy(dst, xs[i] + o * len, sizeof(T) * len);
        dst += len;
      }
    }
  });
}

template <typename T>
void concat_backward(T* const* dxs, const T* dy, const int64_t* widths, int k, int64_t outer, int64_t inner) {
  int64_t total = 0;
  for (int i = 0; i < k; ++i) total += widths[i];
  parallel_range(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(total * inner, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      const T* src = dy + o * total * inner;
      for (int i = 0; i < k; ++i) {
        const int64_t len = widths[i] * inner;
        if (dxs[i]) std::memcpy(dxs[i] + o * len, src, sizeof(T) * len);
        src += len;
      }
    }
  });
}

#define PYDL_INSTANTIATE(T)                                                                         \
  template void merge_forward<T>(MergeOp, T*, const T* const*, int, int64_t);                       \
  template void merge_backward<T>(MergeOp, T* const*, const T*, const T* const*, int, int64_t);     \
  template void concat_forward<T>(T*, const T* const*, const int64_t*, int, int64_t, int64_t);      \
  template void concat_backward<T>(T* const*, const T*, const int64_t*, int, int64_t, int64_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
