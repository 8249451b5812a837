// Column sums over many rows, parallel yet bitwise independent of the thread count: each
// fixed chunk of rows sums into its own partial row, then the partials are added in chunk
// order. Used for bias gradients and normalization statistics.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/reduce_sizes.h"

namespace pydl {

// sum of term(0..n) in a fixed order that the compiler vectorises: Lanes partial sums (term(j)
// goes to lane j % Lanes), combined in a tree, then the tail. The order is the shape's alone.
template <int Lanes, typename Acc, typename F>
PYDL_ALWAYS_INLINE Acc lane_sum(int64_t n, F&& term) {
  static_assert(Lanes >= 2 && (Lanes & (Lanes - 1)) == 0, "Lanes is a power of two");
  Acc s[Lanes] = {};
  int64_t j = 0;
  for (; j + Lanes <= n; j += Lanes)
    for (int l = 0; l < Lanes; ++l) s[l] += term(j + l);
  for (int w = Lanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) s[l] += s[l + w];
  for (; j < n; ++j) s[0] += term(j);
  return s[0];
}


// out[q * channels + c] = sum over rows r of the q-th value f(r, part) adds to part[q * channels + c].
template <int K, typename F>
void column_sums(double* out, int64_t rows, int64_t channels, double* ws, F&& f) {
  const int64_t chunks = reduce_row_chunks(rows);
  parallel_range(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double* part = ws + ch * K * channels;
      std::fill(part, part + K * channels, 0.0);
      for (int64_t r = ch * kReduceRowChunk; r < std::min(rows, (ch + 1) * kReduceRowChunk); ++r) f(r, part);
    }
  });
  std::fill(out, out + K * channels, 0.0);
  for (int64_t ch = 0; ch < chunks; ++ch)
    for (int64_t i = 0; i < K * channels; ++i) out[i] += ws[ch * K * channels + i];
}

}  // namespace pydl
