#include "nn/gradient_reducer.h"

#include <algorithm>

#include "core/errors.h"

namespace pydl {

BatchShare batch_share(int64_t rows, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw ValueError("batch_share: expected 0 <= rank < size, got rank " + std::to_string(rank) + " of " +
                     std::to_string(size));
  const int64_t base = rows / size, extra = rows % size;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

void BucketPlan::plan(int64_t n, int64_t bucket_floats) {
  if (bucket_floats < 1) throw ValueError("bucket size: expected >= 1 float, got " + std::to_string(bucket_floats));
  bucket_floats_ = bucket_floats;
  bucket_size_.clear();
  for (int64_t off = 0; off < n; off += bucket_floats) bucket_size_.push_back(std::min(bucket_floats, n - off));
  missing_ = bucket_size_;
}

void BucketPlan::reset() { missing_ = bucket_size_; }  // same size: no allocation

void BucketPlan::mark_ready(int64_t offset, int64_t size, int64_t* done, int64_t* n_done) {
  // A range may straddle buckets: each gets its part.
  for (int64_t lo = offset, end = offset + size; lo < end;) {
    const int64_t b = lo / bucket_floats_;
    const int64_t hi = std::min(end, (b + 1) * bucket_floats_);
    int64_t& m = missing_[size_t(b)];
    if (hi - lo > m) throw ValueError("gradients_ready: a range was reported twice");
    m -= hi - lo;
    if (m == 0) done[(*n_done)++] = b;
    lo = hi;
  }
}

}  // namespace pydl
