#include "kernels/merge.h"

#include <algorithm>
#include <cstring>

#include "core/device.h"
#include "core/errors.h"
#include "core/parallel.h"

namespace pydl {
namespace {
constexpr int64_t kGrain = 1 << 14;
}

// The op is a template argument of the loops below, so each one is a plain elementwise loop
// the compiler vectorises (a switch per element, through pointers it cannot prove apart,
// kept it scalar).
template <MergeOp Op, typename T>
void merge_forward_span(T* y, const T* const* xs, int k, int64_t lo, int64_t hi) {
  const T* x0 = xs[0];
  if (k == 2) {
    const T* x1 = xs[1];
    for (int64_t e = lo; e < hi; ++e) {
      const T v = merge_fold(Op, x0[e], x1[e]);
      y[e] = Op == MergeOp::Average ? v / T(2) : v;
    }
    return;
  }
  for (int64_t e = lo; e < hi; ++e) {
    T v = x0[e];
    for (int i = 1; i < k; ++i) v = merge_fold(Op, v, xs[i][e]);
    y[e] = Op == MergeOp::Average ? v / T(k) : v;
  }
}

template <typename T>
void merge_forward(MergeOp op, T* y, const T* const* xs, int k, int64_t n) {
  PYDL_DEVICE_DISPATCH(merge_forward, op, y, xs, k, n);
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
    switch (op) {
      case MergeOp::Add: return merge_forward_span<MergeOp::Add>(y, xs, k, lo, hi);
      case MergeOp::Average: return merge_forward_span<MergeOp::Average>(y, xs, k, lo, hi);
      case MergeOp::Subtract: return merge_forward_span<MergeOp::Subtract>(y, xs, k, lo, hi);
      case MergeOp::Multiply: return merge_forward_span<MergeOp::Multiply>(y, xs, k, lo, hi);
      case MergeOp::Maximum: return merge_forward_span<MergeOp::Maximum>(y, xs, k, lo, hi);
      case MergeOp::Minimum: return merge_forward_span<MergeOp::Minimum>(y, xs, k, lo, hi);
    }
  });
}

template <typename T>
void add_into(T* y, const T* x, int64_t n) {
  PYDL_DEVICE_DISPATCH(add_into, y, x, n);
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = y[i] + x[i];
  });
}

template <typename T>
void merge_backward(MergeOp op, T* const* dxs, const T* dy, const T* const* xs, int k, int64_t n) {
  PYDL_DEVICE_DISPATCH(merge_backward, op, dxs, dy, xs, k, n);
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
    if (op == MergeOp::Add || op == MergeOp::Subtract || op == MergeOp::Average) {
      // Linear: each input's gradient is dy times a constant, one plain loop per input.
      for (int i = 0; i < k; ++i) {
        T* d = dxs[i];
        if (!d) continue;
        if (op == MergeOp::Add || (op == MergeOp::Subtract && i == 0)) {
          std::memcpy(d + lo, dy + lo, sizeof(T) * size_t(hi - lo));
        } else {
          if (op == MergeOp::Subtract)
            for (int64_t e = lo; e < hi; ++e) d[e] = -dy[e];
          else
            for (int64_t e = lo; e < hi; ++e) d[e] = dy[e] / T(k);
        }
      }
      return;
    }
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
      for (int i = 0; i < k; ++i) {  // Multiply: the product of the others
        if (!dxs[i]) continue;
        T d = g;
        for (int j = 0; j < k; ++j)
          if (j != i) d *= xs[j][e];
        dxs[i][e] = d;
      }
    }
  });
}

template <typename T>
void concat_forward(T* y, const T* const* xs, const int64_t* widths, int k, int64_t outer, int64_t inner) {
  PYDL_DEVICE_DISPATCH(concat_forward, y, xs, widths, k, outer, inner);
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
  PYDL_DEVICE_DISPATCH(concat_backward, dxs, dy, widths, k, outer, inner);
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

BidirectionalMerge parse_bidirectional_merge(const std::string& mode) {
  if (mode == "concat") return BidirectionalMerge::Concat;
  if (mode == "sum") return BidirectionalMerge::Sum;
  if (mode == "ave") return BidirectionalMerge::Ave;
  if (mode == "mul") return BidirectionalMerge::Mul;
  throw ValueError("merge_mode must be concat, sum, ave or mul, got '" + mode + "'");
}

template <typename T>
void bidirectional_merge_forward(BidirectionalMerge mode, T* y, const T* a, const T* b, int64_t rows,
                                 int64_t u) {
  PYDL_DEVICE_DISPATCH(bidirectional_merge_forward, mode, y, a, b, rows, u);
  const int64_t width = mode == BidirectionalMerge::Concat ? 2 * u : u;
  parallel_range(rows, std::max<int64_t>(1, kGrain / width), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* ar = a + r * u;
      const T* br = b + r * u;
      T* o = y + r * width;
      switch (mode) {
        case BidirectionalMerge::Concat: std::copy(ar, ar + u, o); std::copy(br, br + u, o + u); break;
        case BidirectionalMerge::Sum: for (int64_t j = 0; j < u; ++j) o[j] = ar[j] + br[j]; break;
        case BidirectionalMerge::Ave: for (int64_t j = 0; j < u; ++j) o[j] = T(0.5) * (ar[j] + br[j]); break;
        case BidirectionalMerge::Mul: for (int64_t j = 0; j < u; ++j) o[j] = ar[j] * br[j]; break;
      }
    }
  });
}

template <typename T>
void bidirectional_merge_backward(BidirectionalMerge mode, T* da, T* db, const T* dy, const T* a, const T* b,
                                  int64_t rows, int64_t u) {
  PYDL_DEVICE_DISPATCH(bidirectional_merge_backward, mode, da, db, dy, a, b, rows, u);
  const int64_t width = mode == BidirectionalMerge::Concat ? 2 * u : u;
  parallel_range(rows, std::max<int64_t>(1, kGrain / width), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* ga = da + r * u;
      T* gb = db + r * u;
      const T* g = dy + r * width;
      const T* ar = a + r * u;
      const T* br = b + r * u;
      switch (mode) {
        case BidirectionalMerge::Concat: std::copy(g, g + u, ga); std::copy(g + u, g + 2 * u, gb); break;
        case BidirectionalMerge::Sum: std::copy(g, g + u, ga); std::copy(g, g + u, gb); break;
        case BidirectionalMerge::Ave: for (int64_t j = 0; j < u; ++j) ga[j] = gb[j] = T(0.5) * g[j]; break;
        case BidirectionalMerge::Mul:
          for (int64_t j = 0; j < u; ++j) {
            ga[j] = g[j] * br[j];
            gb[j] = g[j] * ar[j];
          }
          break;
      }
    }
  });
}

#define PYDL_INSTANTIATE(T)                                                                         \
  template void merge_forward<T>(MergeOp, T*, const T* const*, int, int64_t);                       \
  template void add_into<T>(T*, const T*, int64_t);                                                  \
  template void merge_backward<T>(MergeOp, T* const*, const T*, const T* const*, int, int64_t);     \
  template void concat_forward<T>(T*, const T* const*, const int64_t*, int, int64_t, int64_t);      \
  template void concat_backward<T>(T* const*, const T*, const int64_t*, int, int64_t, int64_t);     \
  template void bidirectional_merge_forward<T>(BidirectionalMerge, T*, const T*, const T*, int64_t, int64_t); \
  template void bidirectional_merge_backward<T>(BidirectionalMerge, T*, T*, const T*, const T*, const T*,   \
                                                int64_t, int64_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
