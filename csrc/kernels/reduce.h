// Column sums over many rows, parallel yet bitwise independent of the thread count: each
// fixed chunk of rows sums into its own partial row, then the partials are added in chunk
// order. Used for bias gradients and normalization statistics.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/parallel.h"
#include "kernels/reduce_sizes.h"

namespace pydl {


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
