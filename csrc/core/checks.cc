#include "core/checks.h"

#include <cmath>
#include <cstring>

#include "core/simd.h"

namespace pydl {
namespace {

// Whether any of x[0..n) has an all-ones exponent (NaN or Inf). Integer tests OR-ed
// together: no early exit and no float compares, so the loop vectorises.
PYDL_SIMD_CLONES bool any_nonfinite(const float* x, int64_t n) {
  constexpr uint32_t kExp = 0x7f800000u;
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof(u));
    bad |= uint32_t((u & kExp) == kExp);
  }
  return bad != 0;
}

}  // namespace

int64_t find_nonfinite(const float* x, int64_t n) {
  constexpr int64_t kBlock = 4096;
  for (int64_t lo = 0; lo < n; lo += kBlock) {
    const int64_t len = lo + kBlock < n ? kBlock : n - lo;
    if (!any_nonfinite(x + lo, len)) continue;
    for (int64_t i = lo; i < lo + len; ++i)
      if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

}  // namespace pydl
