// Data checks run on every fit/evaluate/predict input, fast enough for batch-1 inference.
#pragma once
#include <cstdint>

namespace pydl {

// Index of the first NaN or Inf in x[0..n), or -1 when all are finite.
int64_t find_nonfinite(const float* x, int64_t n);

}  // namespace pydl
