#include "kernels/embedding.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/parallel.h"
#include "kernels/step_results.h"

namespace pydl {

template <typename T>
int64_t embedding_ids(int64_t* ids, uint8_t* mask, const T* x, int64_t count, int64_t vocab) {
  PYDL_DEVICE_DISPATCH(embedding_ids, ids, mask, x, count, vocab);
  for (int64_t i = 0; i < count; ++i) {
    const T v = x[i];
    if (!(v >= T(0) && v < T(vocab)) || v != std::floor(v)) return i;
    ids[i] = int64_t(v);
    if (mask) mask[i] = ids[i] != 0;
  }
  return -1;
}

template <typename T>
void embedding_ids_into(double* block, int64_t tag, int64_t* ids, uint8_t* mask, const T* x,
                        int64_t count, int64_t vocab) {
  PYDL_DEVICE_DISPATCH(embedding_ids_into, block, tag, ids, mask, x, count, vocab);
  namespace sr = step_results;
  const int64_t bad = embedding_ids<T>(ids, mask, x, count, vocab);
  if (bad < 0) return;
  for (int64_t i = bad; i < count; ++i) {  // the rest as embedding_ids would, bad ids as 0
    const T v = x[i];
    ids[i] = !(v >= T(0) && v < T(vocab)) || v != std::floor(v) ? 0 : int64_t(v);
    if (mask) mask[i] = ids[i] != 0;
  }
  if (!sr::running(block)) return;
  sr::stop(block, sr::kBadInput);
  block[sr::kStopTag] = double(tag);
  block[sr::kStopPosition] = double(bad);
  block[sr::kStopValue] = double(x[bad]);
  block[sr::kStopLimit] = double(vocab);
}

template <typename T>
void embedding_forward(T* y, const int64_t* ids, const T* table, int64_t count, int64_t dim) {
  PYDL_DEVICE_DISPATCH(embedding_forward, y, ids, table, count, dim);
  parallel_range(count, std::max<int64_t>(1, 8192 / dim), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* row = table + ids[i] * dim;
      std::copy(row, row + dim, y + i * dim);
    }
  });
}

template <typename T>
void embedding_backward(T* dtable, const T* dy, const int64_t* ids, int64_t count, int64_t dim) {
  PYDL_DEVICE_DISPATCH(embedding_backward, dtable, dy, ids, count, dim);
  parallel_range(dim, count * dim >= (1 << 15) ? 32 : dim, [&](int64_t j0, int64_t j1) {
    for (int64_t i = 0; i < count; ++i) {
      T* g = dtable + ids[i] * dim;
      const T* src = dy + i * dim;
      for (int64_t j = j0; j < j1; ++j) g[j] += src[j];
    }
  });
}

#define PYDL_EMBEDDING(T)                                                                 \
  template int64_t embedding_ids<T>(int64_t*, uint8_t*, const T*, int64_t, int64_t);    \
  template void embedding_ids_into<T>(double*, int64_t, int64_t*, uint8_t*, const T*, int64_t, int64_t); \
  template void embedding_forward<T>(T*, const int64_t*, const T*, int64_t, int64_t);   \
  template void embedding_backward<T>(T*, const T*, const int64_t*, int64_t, int64_t);
PYDL_EMBEDDING(float)
PYDL_EMBEDDING(double)

}  // namespace pydl
