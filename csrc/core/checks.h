// Data checks run on every fit/evaluate/predict input, fast enough for batch-1 inference.
#pragma once
#include <cmath>
#include <cstdint>

namespace pydl {

// Index of the first NaN or Inf in x[0..n), or -1 when all are finite.
template <typename T>
int64_t find_nonfinite(const T* x, int64_t n) {
  constexpr int64_t kBlock = 1024;
  for (int64_t lo = 0; lo < n; lo += kBlock) {
    const int64_t hi = lo + kBlock < n ? lo + kBlock : n;
    // Branch-free scan of a block (x - x is 0 for finite x, NaN otherwise), then locate.
    T acc = 0;
    for (int64_t i = lo; i < hi; ++i) acc += x[i] - x[i];
    if (acc != acc)
      for (int64_t i = lo; i < hi; ++i)
        if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

}  // namespace pydl
