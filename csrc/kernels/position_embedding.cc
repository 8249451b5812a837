#include "kernels/position_embedding.h"

#include <algorithm>
#include <cstring>

#include "core/device.h"
#include "core/parallel.h"

namespace pydl {

template <typename T>
void position_embedding_forward(T* y, const T* table, int64_t n, int64_t t, int64_t d) {
  PYDL_DEVICE_DISPATCH(position_embedding_forward, y, table, n, t, d);
  parallel_range(n, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(t * d, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) std::memcpy(y + i * t * d, table, sizeof(T) * t * d);
  });
}

template <typename T>
void position_embedding_backward(T* dtable, const T* dy, int64_t n, int64_t t, int64_t d) {
  PYDL_DEVICE_DISPATCH(position_embedding_backward, dtable, dy, n, t, d);
  // Split over table entries; each entry sums its batch column in order.
  parallel_range(t * d, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = 0; i < n; ++i) {
      const T* src = dy + i * t * d;
      for (int64_t e = lo; e < hi; ++e) dtable[e] += src[e];
    }
  });
}

template void position_embedding_forward<float>(float*, const float*, int64_t, int64_t, int64_t);
template void position_embedding_forward<double>(double*, const double*, int64_t, int64_t, int64_t);
template void position_embedding_backward<float>(float*, const float*, int64_t, int64_t, int64_t);
template void position_embedding_backward<double>(double*, const double*, int64_t, int64_t, int64_t);

}  // namespace pydl
