// The row chunks of the deterministic column sums and the workspace they need, shared by the
// CPU's column_sums (reduce.h) and the CUDA one (cuda/column_sums.cuh), so one workspace
// planned by a layer fits both backends.
#pragma once
#include <cstdint>

namespace pydl {

constexpr int64_t kReduceRowChunk = 1024;

inline int64_t reduce_row_chunks(int64_t rows) { return (rows + kReduceRowChunk - 1) / kReduceRowChunk; }

// Doubles of workspace column_sums<K> needs.
inline int64_t column_sums_workspace(int64_t rows, int64_t channels, int k = 1) {
  return reduce_row_chunks(rows) * k * channels;
}

}  // namespace pydl
