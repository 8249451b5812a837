// Rows of a table gathered by index: row r of dst is row index[r] of src, row_bytes each. The
// trainer's batches come from it, on the CPU (from the caller's arrays) and on a device (from
// a data set copied there once per fit). CUDA version: cuda/gather.cu.
#pragma once
#include <cstdint>

namespace pydl {

// dst and src must not overlap; index values in [0, rows of src) (the caller's order).
void gather_rows(void* dst, const void* src, const int64_t* index, int64_t rows, int64_t row_bytes);

}  // namespace pydl
