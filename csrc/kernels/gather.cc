#include "kernels/gather.h"

#include <algorithm>
#include <cstring>

#include "core/device.h"
#include "core/parallel.h"

namespace pydl {

void gather_rows(void* dst, const void* src, const int64_t* index, int64_t rows, int64_t row_bytes) {
  PYDL_DEVICE_DISPATCH_PLAIN(gather_rows, dst, src, index, rows, row_bytes);
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  parallel_range(rows, std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(row_bytes, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) std::memcpy(d + r * row_bytes, s + index[r] * row_bytes, size_t(row_bytes));
  });
}

}  // namespace pydl
