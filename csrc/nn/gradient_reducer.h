// GradientReducer: the seam between the trainer and a data-parallel transport (MPI today,
// NCCL on device buffers later). The trainer calls it at fixed points of every step, in the
// same order on every rank, so an implementation only has to match collectives:
//
//   sum(control)                 once per step: loss weights and flags (a few doubles)
//   sum_statistics(values)       during forward and backward, from the layers that ask
//                                (BatchNormalization(synchronized=True)): see StatisticsReducer
//   begin_gradients(grad, n)     before backward
//   gradients_ready(off, size)   as backward finishes parameter ranges (launch full buckets)
//   finish_gradients()           after backward: returns where the summed gradients are
//
// Horovod's tensor fusion: the flat gradient buffer is cut into buckets of bucket_floats;
// a bucket is all-reduced as soon as every one of its gradients is final, while backward
// goes on with earlier layers. Buckets complete in the order backward reaches them, which is
// the same on every rank (the same graph), so collectives start in the same order everywhere.
//
// Every wait is bounded: a rank that reports a failure makes the others throw
// DistributedError naming it, and a wait longer than the timeout throws too (a rank died or
// hangs), so a broken job raises instead of hanging.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/real.h"

namespace pydl {

// Another rank failed, or no rank answered within the timeout: becomes pydl.distributed.DistributedError.
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Rank r's contiguous share of a global batch of `rows`: sizes differ by at most one, the
// first rows % size ranks take one more.
struct BatchShare {
  int64_t offset = 0;
  int64_t rows = 0;
};
BatchShare batch_share(int64_t rows, int rank, int size);

// Which buckets of the flat buffer are complete, as backward reports parameter ranges.
class BucketPlan {
 public:
  // n floats in buckets of at most bucket_floats (>= 1), numbered from offset 0 up.
  void plan(int64_t n, int64_t bucket_floats);
  int64_t num_buckets() const { return int64_t(bucket_size_.size()); }
  int64_t bucket_offset(int64_t b) const { return b * bucket_floats_; }
  int64_t bucket_size(int64_t b) const { return bucket_size_[size_t(b)]; }
  void reset();  // a new step: nothing ready
  // Marks [offset, offset + size) ready; appends the buckets it completes to `done`
  // (which has room for num_buckets() entries; *n_done is its length).
  void mark_ready(int64_t offset, int64_t size, int64_t* done, int64_t* n_done);

 private:
  int64_t bucket_floats_ = 1;
  std::vector<int64_t> bucket_size_;
  std::vector<int64_t> missing_;  // per bucket: floats not yet ready
};

// What a layer may ask of the transport in the middle of a step: a few values summed over
// ranks, now (BatchNormalization(synchronized=True): per-channel sums of the batch statistics
// in forward, of their gradient in backward). The values live where the layer computes (host
// memory here; a device backend sums device memory in place on the step's stream, NCCL's
// ncclAllReduce of doubles), so a layer calls the same entry whatever the transport. Every
// rank calls it at the same points of a step in the same order (the same layers run
// everywhere, a rank without rows too: Layer::forward_without_rows); it blocks until done
// and is bounded like every wait of the reducer.
class StatisticsReducer {
 public:
  virtual ~StatisticsReducer() = default;
  virtual int size() const = 0;
  // Sums data[0..n) over ranks in place (every rank gets the same result).
  virtual void sum_statistics(double* data, int64_t n) = 0;
};

class GradientReducer : public StatisticsReducer {
 public:
  virtual int rank() const = 0;
  // Sums data[0..n) over ranks in place (every rank gets the same result).
  virtual void sum(double* data, int64_t n) = 0;
  // Copies root's data[0..n) to every rank.
  virtual void broadcast(real* data, int64_t n, int root) = 0;
  // A step's gradient all-reduce over grad[0..n): see the file comment. finish_gradients
  // returns a buffer of n floats holding the sum over ranks (valid until the next begin).
  virtual void begin_gradients(real* grad, int64_t n) = 0;
  virtual void gradients_ready(int64_t offset, int64_t size) = 0;
  virtual real* finish_gradients() = 0;
  // Tells the other ranks that this one failed with `message` (they throw DistributedError
  // at their next wait); does not wait for them.
  virtual void report_failure(const std::string& message) = 0;
  // A broken job's exit watchdog: unless the process has exited by then, ends the whole job
  // with status 1 after `seconds` (a thread of its own: works while the exit waits in the
  // transport's shutdown, holding the GIL).
  virtual void abort_job_after(double seconds) = 0;
};

}  // namespace pydl
